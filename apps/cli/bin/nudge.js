#!/usr/bin/env node
"use strict";
// Runs the TypeScript entry through tsx, as `node --import tsx` does for the apps (the same module: CommonJS and ESM
// hooks), in this process rather than a child one: SIGTERM sent to `nudge worker` must reach the worker itself.
import("tsx").then(() => require("../src/main.ts"));
