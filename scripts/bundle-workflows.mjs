// Part of `npm run build`: bundles the compiled workflows once, so that workers load the bundle
// instead of running webpack at start (see src/workflow-bundle.ts).
import { writePrebuiltBundle } from '../dist/src/workflow-bundle.js';

await writePrebuiltBundle();
