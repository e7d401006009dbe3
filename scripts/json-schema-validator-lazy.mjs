// Stands in for the MCP SDK's `_shims` module in the bundled command: the same exports, with the Ajv JSON Schema validator loaded from node_modules on first use instead of compiled at every start.
import { createRequire } from 'node:module';
import process from 'node:process';

export { process };

const require = createRequire(import.meta.url);

/** The SDK's Node validator (Ajv), built the first time a JSON Schema is validated; tools here validate with zod. */
export class DefaultJsonSchemaValidator {
  #inner;

  constructor(ajv) {
    this.ajv = ajv;
  }

  getValidator(schema) {
    this.#inner ??= new (require('@modelcontextprotocol/server/_shims').DefaultJsonSchemaValidator)(this.ajv);
    return this.#inner.getValidator(schema);
  }
}
