import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, envField, parseConfig } from '../src/config.js';

const schema = z.object({
  PULSE_DB_URL: envField.postgresUrl(),
  PULSE_PORT: envField.port(8080),
  PULSE_FLAG: envField.boolean(true),
});

describe('parseConfig', () => {
  it('applies defaults, treating empty variables as unset', () => {
    const config = parseConfig(schema, {
      PULSE_DB_URL: 'postgres://u@h/db',
      PULSE_PORT: '',
      PULSE_FLAG: 'false',
    });
    assert.deepEqual(config, { PULSE_DB_URL: 'postgres://u@h/db', PULSE_PORT: 8080, PULSE_FLAG: false });
  });

  it('names every bad variable and its value, hiding the value of a secret', () => {
    assert.throws(
      () => parseConfig(schema, { PULSE_DB_URL: 'mysql://h/db', PULSE_PORT: '70000', PULSE_FLAG: 'yes' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        // A database URL may hold a password: named, not shown.
        assert.match(error.message, /PULSE_DB_URL=\(hidden: a secret\): /);
        assert.doesNotMatch(error.message, /mysql/);
        assert.match(error.message, /PULSE_PORT="70000"/);
        assert.match(error.message, /PULSE_FLAG="yes"/);
        return true;
      },
    );
    assert.throws(() => parseConfig(schema, {}), /PULSE_DB_URL=\(unset\)/);
  });
});
