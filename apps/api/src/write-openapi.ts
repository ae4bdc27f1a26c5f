import { writeFileSync } from "node:fs";
import path from "node:path";
import { openApiJson } from "./v1/openapi-document";

/** `npm run openapi -w @nudge/api`: writes apps/api/openapi.json from the schemas (a test fails while they differ). */
const file = path.join(__dirname, "..", "openapi.json");
writeFileSync(file, openApiJson());
console.log(`wrote ${path.relative(process.cwd(), file)}`);
