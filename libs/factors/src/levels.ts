/**
 * The levels of assurance Gatehouse reports as `acr`, lowest first. A factor's proof names the
 * levels its record satisfies; a session's `acr` is the highest level its records reach.
 */
export const LOA1 = 'urn:gatehouse:loa:1';
export const LOA2 = 'urn:gatehouse:loa:2';

/** Every level, lowest first (the next issue adds loa:3 here, for passkeys). */
export const LEVELS = [LOA1, LOA2] as const;

export type Level = (typeof LEVELS)[number];

export const isLevel = (value: unknown): value is Level => (LEVELS as readonly unknown[]).includes(value);

/** Orders two levels: negative when `a` is the lower one. */
export const compareLevels = (a: Level, b: Level): number => LEVELS.indexOf(a) - LEVELS.indexOf(b);
