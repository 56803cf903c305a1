// The API reference page: /openapi.json drawn as a readable page, one section per surface,
// every operation with its parameters, request body, responses and error bodies, and the named
// schemas they refer to.

import { clear, failure, h } from "./dom.js";

const main = document.getElementById("main");
const toc = document.getElementById("toc");
const METHODS = ["get", "post", "put", "patch", "delete", "options"];
const REF = "#/components/schemas/";

function typeOf(schema) {
  if (!schema || !Object.keys(schema).length) return "any";
  if (schema.$ref) return h("a", { href: `#schema-${schema.$ref.slice(REF.length)}` }, schema.$ref.slice(REF.length));
  if (schema.anyOf || schema.oneOf) {
    const options = schema.anyOf ?? schema.oneOf;
    return options.flatMap((option, i) => (i ? [" or ", typeOf(option)] : [typeOf(option)]));
  }
  if (schema.type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    return ["array of ", schema.items ? typeOf(schema.items) : "any"];
  }
  return Array.isArray(schema.type) ? schema.type.join(" or ") : schema.type ?? "any";
}

function constraints(schema) {
  const notes = [];
  if (!schema) return notes;
  if (schema.enum) notes.push(`one of: ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  if (schema.minimum !== undefined) notes.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) notes.push(`≤ ${schema.maximum}`);
  if (schema.minItems !== undefined) notes.push(`at least ${schema.minItems} items`);
  if (schema.maxItems !== undefined) notes.push(`at most ${schema.maxItems} items`);
  if (schema.maxLength !== undefined) notes.push(`at most ${schema.maxLength} characters`);
  if (schema.pattern) notes.push(`pattern ${schema.pattern}`);
  if (schema.default !== undefined) notes.push(`default ${JSON.stringify(schema.default)}`);
  if (schema.description) notes.push(schema.description);
  return notes;
}

// An object's fields as a nested list; anything else as its type and constraints.
let components = {};

function schemaView(schema, expand = true) {
  if (!schema) return h("p", { class: "muted" }, "No body.");
  // A named schema: its name (a link to it) and, the first time down, its fields.
  const named = schema.$ref ?? (schema.type === "array" ? schema.items?.$ref : undefined);
  if (named && expand && components[named.slice(REF.length)]) {
    return h("div", { class: "schema" }, h("p", {}, typeOf(schema)), schemaView(components[named.slice(REF.length)], false));
  }
  const target = schema.type === "array" && schema.items?.properties ? schema.items : schema;
  if (!target.properties) {
    return h("p", { class: "schema" }, typeOf(schema), constraints(schema).length ? ` (${constraints(schema).join("; ")})` : "");
  }
  const required = new Set(target.required ?? []);
  return h("div", { class: "schema" }, target !== schema ? h("p", {}, "An array of objects:") : null,
    h("ul", { class: "properties" }, Object.entries(target.properties).map(([name, property]) => h("li", {},
      h("code", {}, name), " ", h("span", { class: "type" }, typeOf(property)), required.has(name) ? h("span", { class: "badge" }, "required") : null,
      constraints(property).length ? h("span", { class: "muted" }, ` ${constraints(property).join("; ")}`) : null,
      property.properties || property.items?.properties ? schemaView(property) : null))));
}

function example(value) {
  return value === undefined ? null : h("details", {}, h("summary", {}, "Example"), h("pre", {}, JSON.stringify(value, null, 2)));
}

function parameters(list) {
  if (!list?.length) return null;
  return h("div", { class: "table-scroll" }, h("table", { class: "params" },
    h("thead", {}, h("tr", {}, ["Name", "In", "Type", "Rules", "Description"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, list.map((param) => h("tr", {},
      h("td", {}, h("code", {}, param.name), param.required ? h("span", { class: "badge" }, "required") : null),
      h("td", {}, param.in), h("td", {}, typeOf(param.schema)),
      h("td", {}, constraints({ ...param.schema, description: undefined }).join("; ") || "–"),
      h("td", {}, [param.description, param.schema?.description].filter(Boolean).join(". ") || "–"))))));
}

function operation(path, method, op) {
  const body = op.requestBody?.content ? Object.entries(op.requestBody.content) : [];
  return h("article", { class: "operation", id: op.operationId },
    h("h3", {}, h("span", { class: `method ${method}` }, method.toUpperCase()), " ", h("code", {}, path),
      op["x-extension"] ? h("span", { class: "badge extension" }, "extension") : null),
    h("p", { class: "summary" }, op.summary),
    op.description ? h("p", {}, op.description) : null,
    h("p", { class: "muted" }, op.security?.length ? "Needs an API key: Authorization: Bearer <key> or X-API-Key." : "No API key."),
    op.parameters?.length ? [h("h4", {}, "Parameters"), parameters(op.parameters)] : null,
    body.length ? [h("h4", {}, `Request body (${body.map(([type]) => type).join(", ")})`), schemaView(body[0][1].schema), example(body[0][1].example)] : null,
    h("h4", {}, "Responses"),
    h("dl", { class: "responses" }, Object.entries(op.responses ?? {}).map(([status, response]) => {
      const content = Object.entries(response.content ?? {});
      return [h("dt", {}, h("code", {}, status), " ", response.description),
        h("dd", {}, content.map(([type, media]) => [h("p", { class: "muted" }, type), schemaView(media.schema), example(media.example)]))];
    })));
}

function render(doc) {
  components = doc.components?.schemas ?? {};
  const byTag = new Map((doc.tags ?? []).map((tag) => [tag.name, { tag, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const name = op.tags?.[0] ?? "other";
      if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
      byTag.get(name).ops.push([path, method, op]);
    }
  }
  clear(toc, Array.from(byTag.values()).map(({ tag, ops }) => h("div", {}, h("h2", {}, h("a", { href: `#tag-${tag.name}` }, tag.name)),
    h("ul", {}, ops.map(([path, method, op]) => h("li", {}, h("a", { href: `#${op.operationId}` }, h("span", { class: `method ${method}` }, method.toUpperCase()), " ", path)))))),
    h("h2", {}, h("a", { href: "#schemas" }, "Schemas")));
  const schemes = doc.components?.securitySchemes ?? {};
  clear(main,
    h("h1", {}, `${doc.info.title} API reference`), h("p", { class: "muted" }, `Version ${doc.info.version} · OpenAPI ${doc.openapi}`),
    h("p", {}, doc.info.description ?? ""),
    h("p", {}, "Authentication: ", Object.values(schemes).map((scheme) => scheme.description ?? `${scheme.name} header`).join(", or ")),
    Array.from(byTag.values()).map(({ tag, ops }) => h("section", { class: "tag", id: `tag-${tag.name}` },
      h("h2", {}, tag.name), tag.description ? h("p", {}, tag.description) : null,
      ops.map(([path, method, op]) => operation(path, method, op)))),
    h("section", { id: "schemas" }, h("h2", {}, "Schemas"), Object.entries(doc.components?.schemas ?? {}).map(([name, schema]) =>
      h("article", { class: "operation", id: `schema-${name}` }, h("h3", {}, h("code", {}, name)),
        schema.description ? h("p", {}, schema.description) : null, schemaView(schema)))));
  if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
}

fetch("/openapi.json")
  .then(async (response) => {
    if (!response.ok) throw new Error(`Could not load /openapi.json (HTTP ${response.status})`);
    render(await response.json());
  })
  .catch((error) => clear(main, h("h1", {}, "API reference"), failure(error)));
