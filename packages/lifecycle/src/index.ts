export { onShutdown } from "./shutdown";
