import { configuredSemiSpaceMb, RELAY_NODE_FLAGS, RELAY_SEMI_SPACE_MB } from "../src/young-generation";

describe("configuredSemiSpaceMb", () => {
  it("reads the flag from node's arguments, in either spelling and with a separate value", () => {
    expect(configuredSemiSpaceMb(["--max-semi-space-size=64", "--import", "tsx"], "")).toBe(64);
    expect(configuredSemiSpaceMb(["--max_semi_space_size", "32"], "")).toBe(32);
  });

  it("reads NODE_OPTIONS, and the command line wins over it as the last one given", () => {
    expect(configuredSemiSpaceMb([], "--enable-source-maps --max-semi-space-size=48")).toBe(48);
    expect(configuredSemiSpaceMb(["--max-semi-space-size=128"], "--max-semi-space-size=16")).toBe(128);
  });

  it("is undefined when nothing sets it, or when the value is not a number", () => {
    expect(configuredSemiSpaceMb(["--max-old-space-size=128"], "--max-old-space-size=256")).toBeUndefined();
    expect(configuredSemiSpaceMb(["--max-semi-space-size"], "")).toBeUndefined();
    expect(configuredSemiSpaceMb(["--max-semi-space-size=lots"], "")).toBeUndefined();
  });

  it("is what the launchers' flags set", () => {
    expect(configuredSemiSpaceMb(RELAY_NODE_FLAGS, "")).toBe(RELAY_SEMI_SPACE_MB);
  });
});
