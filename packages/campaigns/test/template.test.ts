import { contactVars, firstNameOf, parseTemplate, render, TemplateRenderError, unknownVariables } from "../src";

describe("render", () => {
  it("fills every placeholder, with firstName derived from name", () => {
    const vars = { ...contactVars({ name: "Ada  Lovelace", email: "ada@example.com", phone: null, timezone: "Europe/London" }), campaignName: "Welcome" };
    expect(render("Hi {{firstName}}, welcome to {{ campaignName }} ({{email}})", vars)).toBe("Hi Ada, welcome to Welcome (ada@example.com)");
    expect(render("Hi {{firstName}}", { name: "Grace Hopper" })).toBe("Hi Grace");
    expect(firstNameOf("  ")).toBeUndefined();
  });

  it("fails, naming the variable, when the contact has no value for it", () => {
    expect(() => render("Call {{phone}}", { name: "Ada", phone: null })).toThrow(TemplateRenderError);
    expect(() => render("Call {{phone}}", { name: "Ada", phone: null })).toThrow(/\{\{phone\}\} has no value/);
  });

  it("refuses unknown variables and broken placeholders", () => {
    expect(() => render("{{company}}", { name: "Ada" })).toThrow(/\{\{company\}\} does not exist/);
    expect(unknownVariables("{{firstName}} at {{company}} {{company}}")).toEqual(["company"]);
    expect(parseTemplate("Hi {{firstName").problem).toMatch(/unbalanced/);
    expect(parseTemplate("Hi {{first name}}").problem).toMatch(/not a variable name/);
  });
});
