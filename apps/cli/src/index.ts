export { createProgram } from "./program";
