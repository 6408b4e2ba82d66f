/** The seeded PRNG of randomised stream tests: the project's one (src/random.ts). */
export { Random } from '../../../src/random.js';
