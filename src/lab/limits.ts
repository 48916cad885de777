/**
 * Limits of a lab, in a module of their own that imports nothing: the CLI's argument checks
 * use them without loading the lab itself (and, through it, @kubernetes/client-node).
 */

export const MAX_LABS = 4;
export const MAX_NODES = 8;
