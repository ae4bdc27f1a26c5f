export { migrateSignupService, signUp, SOURCE } from "./signup-service";
export type { Signup } from "./signup-service";
