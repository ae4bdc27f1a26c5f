import { jsonReply, type Reply } from "./http-io";
import type { PropertyStore } from "./hubspot-properties";
import { hubSpotError } from "./hubspot-replies";
import type { RequestRecord } from "./request-record";

/** HubSpot's properties API for contacts: list, read and create property groups and properties. */
export class PropertyRoutes {
  constructor(private readonly deps: { properties: PropertyStore; records: RequestRecord }) {}

  listGroups(): Reply {
    return jsonReply(200, { results: this.deps.properties.listGroups() });
  }

  readGroup(name: string): Reply {
    const group = this.deps.properties.group(name);
    return group ? jsonReply(200, group) : hubSpotError(404, "OBJECT_NOT_FOUND", `Unable to find property group ${name}`);
  }

  createGroup(body: unknown): Reply {
    const outcome = this.deps.properties.createGroup(body);
    if ("conflict" in outcome) return hubSpotError(409, "OBJECT_ALREADY_EXISTS", "Property group already exists");
    if ("invalid" in outcome) return hubSpotError(400, "VALIDATION_ERROR", outcome.invalid);
    this.deps.records.add({ provider: "hubspot", operation: "group.create", id: outcome.group.name, to: outcome.group.name, body: JSON.stringify(outcome.group) });
    return jsonReply(201, outcome.group);
  }

  list(): Reply {
    return jsonReply(200, { results: this.deps.properties.list() });
  }

  read(name: string): Reply {
    const property = this.deps.properties.get(name);
    return property ? jsonReply(200, property) : hubSpotError(404, "OBJECT_NOT_FOUND", `Unable to find property ${name} for object type 0-1`);
  }

  create(body: unknown): Reply {
    const outcome = this.deps.properties.create(body);
    if ("conflict" in outcome) return hubSpotError(409, "OBJECT_ALREADY_EXISTS", "Property already exists");
    if ("invalid" in outcome) return hubSpotError(400, "VALIDATION_ERROR", outcome.invalid);
    const { property } = outcome;
    this.deps.records.add({ provider: "hubspot", operation: "property.create", id: property.name, to: property.name, body: JSON.stringify(property) });
    return jsonReply(201, property);
  }
}
