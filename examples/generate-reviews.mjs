// Regenerates reviews.csv, the demo's input: 300 product reviews made from fixed phrases by a
// seeded generator, so the file is the same on every machine. Run: node examples/generate-reviews.mjs
import { writeFileSync } from 'node:fs';

const PRODUCTS = [
  'wireless earbuds',
  'espresso machine',
  'running shoes',
  'standing desk',
  'e-reader',
  'air fryer',
  'mechanical keyboard',
  'backpack',
  'electric toothbrush',
  'desk lamp',
];
const OPENINGS = {
  5: ['Absolutely love this', 'Best purchase this year:', 'Exceeded my expectations, this'],
  4: ['Really happy with this', 'Solid choice overall, this', 'Would buy again, this'],
  3: ['Mixed feelings about this', 'It is fine, this', 'Neither great nor terrible, this'],
  2: ['Somewhat disappointed with this', 'Expected more from this', 'Not worth the price, this'],
  1: ['Terrible experience with this', 'Returned it within a week, this', 'Do not buy this'],
};
const DETAILS = {
  5: ['works flawlessly every day', 'feels premium and sturdy', 'arrived early and well packed'],
  4: ['does the job with minor quirks', 'is comfortable after a short break-in', 'is good value'],
  3: [
    'works but the manual is confusing',
    'is okay once you get used to it',
    'looks cheaper than in the photos',
  ],
  2: ['stopped working properly after a month', 'is louder than advertised', 'has a flimsy build'],
  1: [
    'broke on the second day',
    'never worked out of the box',
    'was missing parts and support never replied',
  ],
};

let seed = 20250101;
const next = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pick = (list) => list[Math.floor(next() * list.length)];

const rows = ['id,product,rating,review'];
for (let i = 1; i <= 300; i += 1) {
  const rating = 1 + Math.floor(next() * 5);
  const product = pick(PRODUCTS);
  const review = `${pick(OPENINGS[rating])} ${product}: it ${pick(DETAILS[rating])}.`;
  rows.push(
    `review-${String(i).padStart(3, '0')},${product},${rating},"${review.replaceAll('"', '""')}"`,
  );
}
writeFileSync(new URL('./reviews.csv', import.meta.url), `${rows.join('\n')}\n`);
