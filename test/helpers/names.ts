import type { ArtifactName } from '../../workflows/types.js';

/** An artifact name written out in a test (the product makes them only in `artifactNames`). */
export const artifact = (name: string) => name as ArtifactName;
