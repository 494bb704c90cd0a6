// Enforces the lib/ layering: the levels we intend, named for what lives there, not one level per
// file fitted to today's graph. A file imports only from its own level or lower, lib/ has no
// import cycles, only the glue touches sockets, DNS or files, and pure files are pure.

import { expect } from 'chai'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url))

// The levels, lowest first. A new file must be placed here, on purpose.
const PURE = 0 // bytes and strings in, values out: no I/O, no timers, no module-level mutable state
const STATE = 1 // one session's records and the listener side: session, events, decisions, timers
const COMMANDS = 2 // the command handlers, which see the session only through the Host
const ENGINE = 3 // the input loop
const FACADE = 4 // what users hold: SmtpProtocol, the driver, stream adapters
const GLUE = 5 // sockets, TLS, DNS, files: the only level that may touch them
const ENTRY = 6 // the public entry: re-exports only

const LEVELS: Record<string, number> = {
  'replies.ts': PURE,
  'errors.ts': PURE,
  'options.ts': PURE,
  'address.ts': PURE,
  'parser.ts': PURE,
  'params.ts': PURE,
  'line-reader.ts': PURE,
  'command-line.ts': PURE,
  'dot-decoder.ts': PURE,
  'line-scan.ts': PURE,
  'line-scan-wasm.ts': PURE,
  'header-scanner.ts': PURE,
  'capabilities.ts': PURE,
  'proxy-header.ts': PURE,
  'ip-range.ts': PURE,
  'received.ts': PURE,
  'logger.ts': PURE,
  'gate.ts': PURE,
  'transport.ts': PURE,
  'sasl/types.ts': PURE,
  'sasl/base64.ts': PURE,
  'sasl/one-message.ts': PURE,
  'sasl/plain.ts': PURE,
  'sasl/login.ts': PURE,
  'sasl/cram-md5.ts': PURE,
  'sasl/xoauth2.ts': PURE,
  'sasl/index.ts': PURE,

  'session-info.ts': PURE,
  'session.ts': STATE,
  'message-body.ts': STATE,
  'events.ts': STATE,
  'decisions.ts': STATE,
  'diagnostics.ts': STATE,
  'timeouts.ts': STATE,
  'reply-queue.ts': STATE,
  'host.ts': STATE,

  'commands/guards.ts': COMMANDS,
  'commands/session.ts': COMMANDS,
  'commands/envelope.ts': COMMANDS,
  'commands/data.ts': COMMANDS,
  'commands/auth.ts': COMMANDS,
  'commands/tls.ts': COMMANDS,
  'commands/xclient.ts': COMMANDS,
  'commands/index.ts': COMMANDS,

  'engine.ts': ENGINE,

  'attach.ts': FACADE,
  'protocol.ts': FACADE,
  'shared-options.ts': FACADE,
  'driver.ts': FACADE,
  'message-stream.ts': FACADE,

  'tls.ts': GLUE,
  'server.ts': GLUE,
  'server-options.ts': GLUE,
  'proxy.ts': GLUE,
  'reverse-dns.ts': GLUE,
  'certificate.ts': GLUE,
  'connection-limits.ts': GLUE,

  'index.ts': ENTRY,
}
const IO_MODULES = /^node:(net|tls|fs|fs\/promises|dgram|dns|dns\/promises|http|https|cluster|child_process|timers|timers\/promises)$/
const TIMERS = /\b(setTimeout|setInterval|setImmediate)\(/
// Module-level caches of pure functions (same input, same output), allowed in pure files: each
// remembers a value computed from a frozen input, so no call sees another's state.
const MEMOS = new Set(['replies.ts:formatted', 'replies.ts:keywordLines', 'capabilities.ts:beforeTls', 'capabilities.ts:keywordCache', 'ip-range.ts:parsedLists'])

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

/** Module-level `let`s and collections a pure file keeps (other than its listed memos). */
function moduleState(file: string): string[] {
  const source = readFileSync(join(LIB, file), 'utf8')
  const found: string[] = []
  for (const match of source.matchAll(/^(?:export\s+)?let\s+(\w+)/gm)) found.push(`let ${match[1]}`)
  // A collection typed ReadonlyMap/ReadonlySet is a constant table, built once and never written.
  for (const match of source.matchAll(/^(?:export\s+)?const\s+(\w+)\s*(:[^=]+)?=\s*new\s+(?:Map|Set|WeakMap|WeakSet)\b/gm)) {
    if (match[2]?.includes('Readonly') || MEMOS.has(`${file}:${match[1]}`)) continue
    found.push(`const ${match[1]}`)
  }
  return found
}

describe('lib/ layering', () => {
  const files = libFiles()

  it('gives every lib file a level', () => {
    expect(files.filter((file) => LEVELS[file] === undefined)).to.deep.equal([])
  })

  for (const file of files) {
    it(`${file} imports only from its own level or lower`, () => {
      const level = LEVELS[file] ?? -1
      for (const { from } of importsOf(file)) {
        if (from.startsWith('node:')) {
          if (IO_MODULES.test(from)) expect(level, `${file} imports ${from}: only the glue may`).to.equal(GLUE)
          continue
        }
        const target = resolve(file, from)
        const targetLevel = LEVELS[target]
        expect(targetLevel, `${file} imports ${from}, which has no level`).to.not.equal(undefined)
        expect(targetLevel, `${file} imports from ${target}, a higher level`).to.be.at.most(level)
      }
    })
  }

  for (const file of files.filter((name) => LEVELS[name] === PURE)) {
    it(`${file} is pure: no timers and no module-level mutable state`, () => {
      const source = readFileSync(join(LIB, file), 'utf8')
      expect(TIMERS.test(source), `${file} uses a timer`).to.equal(false)
      expect(moduleState(file), `${file} keeps state between calls`).to.deep.equal([])
    })
  }

  it('has no import cycles (values or types)', () => {
    const edges = new Map(files.map((file) => [file, importsOf(file).filter(({ from }) => !from.startsWith('node:')).map(({ from }) => resolve(file, from))]))
    const done = new Set<string>()
    const cycles: string[] = []
    const visit = (file: string, path: string[]): void => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '))
        return
      }
      if (done.has(file)) return
      for (const next of edges.get(file) ?? []) visit(next, [...path, file])
      done.add(file)
    }
    for (const file of files) visit(file, [])
    expect(cycles).to.deep.equal([])
  })
})
