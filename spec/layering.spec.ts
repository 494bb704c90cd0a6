// Enforces the lib/ layering: a file imports values only from lower levels (types from its own
// level or lower), and only the socket glue may import node:net, node:tls or node:fs.

import { expect } from 'chai'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url))

// Every lib file and its level. A new file must be placed here, on purpose.
const LEVELS: Record<string, number> = {
  'replies.ts': 0,
  'errors.ts': 0,
  'address.ts': 0,
  'dot-decoder.ts': 0,
  'line-reader.ts': 0,
  'header-scanner.ts': 0,
  'transport.ts': 4,
  'proxy-header.ts': 0,
  'sasl/types.ts': 0,
  'sasl/base64.ts': 1,
  'sasl/one-message.ts': 2,
  'sasl/plain.ts': 3,
  'sasl/login.ts': 3,
  'sasl/cram-md5.ts': 3,
  'sasl/xoauth2.ts': 3,
  'sasl/index.ts': 4,
  'parser.ts': 1,
  'params.ts': 2,
  'options.ts': 2,
  'message-body.ts': 1,
  'session.ts': 4,
  'received.ts': 4,
  'capabilities.ts': 5,
  'events.ts': 4,
  'diagnostics.ts': 4,
  'host.ts': 5,
  'commands/guards.ts': 5,
  'commands/data.ts': 6,
  'commands/auth.ts': 6,
  'commands/tls.ts': 6,
  'commands/xclient.ts': 6,
  'commands/session.ts': 6,
  'commands/envelope.ts': 7,
  'commands/index.ts': 8,
  'engine.ts': 9,
  'attach.ts': 9,
  'protocol.ts': 10,
  'driver.ts': 11,
  'message-stream.ts': 11,
  'server.ts': 11,
  'tls.ts': 10,
  'proxy.ts': 10,
  'reverse-dns.ts': 0,
  'certificate.ts': 0,
  'gate.ts': 0,
  'timeouts.ts': 0,
  'logger.ts': 0,
  'ip-range.ts': 1,
  'connection-limits.ts': 1,
  'index.ts': 12,
}
const GLUE = new Set(['server.ts', 'tls.ts', 'proxy.ts', 'reverse-dns.ts'])
const IO_MODULES = /^node:(net|tls|fs|fs\/promises|dgram|dns|dns\/promises|http|https|cluster)$/

function libFiles(dir = LIB): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return libFiles(path)
    return entry.name.endsWith('.ts') ? [relative(LIB, path).split('\\').join('/')] : []
  })
}

interface Import {
  from: string
  typeOnly: boolean
}

function importsOf(file: string): Import[] {
  const source = readFileSync(join(LIB, file), 'utf8')
  const found: Import[] = []
  for (const match of source.matchAll(/^(?:import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
    found.push({ from: match[2] ?? '', typeOnly: match[1] !== undefined })
  }
  return found
}

function resolve(file: string, specifier: string): string {
  const parts = file.split('/').slice(0, -1)
  for (const part of specifier.replace(/\.js$/, '.ts').split('/')) {
    if (part === '..') parts.pop()
    else if (part !== '.') parts.push(part)
  }
  return parts.join('/')
}

describe('lib/ layering', () => {
  const files = libFiles()

  it('gives every lib file a level', () => {
    expect(files.filter((file) => LEVELS[file] === undefined)).to.deep.equal([])
  })

  for (const file of files) {
    it(`${file} imports only downward`, () => {
      const level = LEVELS[file] ?? -1
      for (const { from, typeOnly } of importsOf(file)) {
        if (from.startsWith('node:')) {
          if (IO_MODULES.test(from)) expect(GLUE.has(file), `${file} imports ${from}: only the glue may`).to.equal(true)
          continue
        }
        const target = resolve(file, from)
        const targetLevel = LEVELS[target]
        expect(targetLevel, `${file} imports ${from}, which has no level`).to.not.equal(undefined)
        if (typeOnly) expect(targetLevel, `${file} imports a type from ${target}, a higher level`).to.be.at.most(level)
        else expect(targetLevel, `${file} imports a value from ${target}, not a lower level`).to.be.below(level)
      }
    })
  }
})
