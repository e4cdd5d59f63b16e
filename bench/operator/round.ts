/** One rounding for every figure the operator benchmark records (its JSON holds the rounded values). */
export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
