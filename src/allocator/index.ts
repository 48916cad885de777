export { Allocator } from "./allocator.js";
export type { AllocationResult, Assignment, Eviction, PoolStats } from "./allocator.js";
export { reason, reasonCodes } from "./reasons.js";
export type { Reason, ReasonCode, ReasonDetails } from "./reasons.js";
export type { FamilyPolicy, ServicePort, ServiceRequest } from "./request.js";
