// Runs every README code block that imports 'smtpwire' and checks each `// → …` comment against
// what the snippet really printed there, so the README never promises output it does not produce.
//
// Which output a comment describes: the console.log/info/debug calls made from the line it is on
// (a comment alone on its line belongs to the code line above it; lines after it starting with
// `//` and three spaces continue it). When that line makes no such call itself, the comment
// describes what was printed while that top-level statement ran (a logger, say), less what other
// commented lines printed. Text is compared with runs of whitespace squashed, because
// util.inspect breaks long arrays over lines differently from one Node.js version to the next,
// and `…` in a comment stands for text that changes from run to run (a port, a session id).

import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const ENTRY = fileURLToPath(new URL('../lib/index.js', import.meta.url))

/** The ```js blocks of a Markdown file that import smtpwire, with the line each starts on. */
function snippets(markdown: string): Array<{ line: number; code: string }> {
  const found: Array<{ line: number; code: string }> = []
  const fence = /^```js\n([\s\S]*?)^```/gm
  for (let match = fence.exec(markdown); match; match = fence.exec(markdown)) {
    const code = match[1] ?? ''
    if (code.includes("from 'smtpwire'")) found.push({ line: markdown.slice(0, match.index).split('\n').length, code })
  }
  return found
}

const squash = (text: string): string => text.replace(/\s+/g, ' ').trim()

/** True when `printed` is what `promised` says, `…` standing for any text. */
function matches(promised: string, printed: string): boolean {
  const pattern = squash(promised)
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.+?')
  return new RegExp(`^${pattern}$`, 's').test(squash(printed))
}

/** One `// →` promise: the code line it describes and the text it promises. */
interface Promised {
  readonly line: number
  readonly text: string
}

const ARROW = /\/\/ → (.*)$/
const CONTINUATION = /^\s*\/\/ {3,}(.*)$/
const CODE = /^\s*[^\s/]/

/** The `// →` comments of a snippet, each with the (1-based) code line it describes. */
function promisesOf(code: string): Promised[] {
  const lines = code.split('\n')
  const found: Promised[] = []
  lines.forEach((source, index) => {
    const arrow = ARROW.exec(source)
    if (!arrow) return
    let line = index + 1
    if (!CODE.test(source)) {
      // A comment alone on its line describes the nearest code line above it.
      let above = index - 1
      while (above >= 0 && !CODE.test(lines[above] ?? '')) above--
      line = above + 1
    }
    const parts = [arrow[1] ?? '']
    for (let next = index + 1; next < lines.length; next++) {
      const more = CONTINUATION.exec(lines[next] ?? '')
      if (!more || ARROW.test(lines[next] ?? '')) break
      parts.push(more[1] ?? '')
    }
    found.push({ line, text: parts.join('\n') })
  })
  return found
}

// A top-level statement: starts in column 0 and is not an import, export or a closing bracket.
const STATEMENT = /^(?!import\b|export\b|else\b|catch\b|finally\b)[A-Za-z_$]/

/**
 * For each line, whether it starts as code (not inside a template literal or block comment), so a
 * message body in a multi-line template string is never mistaken for a statement.
 */
function startsAsCode(lines: readonly string[]): boolean[] {
  // The innermost context: code (with `${` brace depth when inside a template), a template, a comment.
  const stack: Array<{ kind: 'code'; depth: number } | { kind: 'template' } | { kind: 'comment' }> = [{ kind: 'code', depth: 0 }]
  return lines.map((line) => {
    const top = stack.at(-1)
    const atCode = stack.length === 1 && top?.kind === 'code'
    for (let i = 0; i < line.length; i++) {
      const here = stack.at(-1)
      const char = line[i]
      const next = line[i + 1]
      if (here?.kind === 'comment') {
        if (char === '*' && next === '/') stack.pop(), i++
      } else if (here?.kind === 'template') {
        if (char === '\\') i++
        else if (char === '`') stack.pop()
        else if (char === '$' && next === '{') stack.push({ kind: 'code', depth: 0 }), i++
      } else if (here?.kind === 'code') {
        if (char === '/' && next === '/') break
        if (char === '/' && next === '*') stack.push({ kind: 'comment' }), i++
        else if (char === '`') stack.push({ kind: 'template' })
        else if (char === "'" || char === '"') {
          for (i++; i < line.length && line[i] !== char; i++) if (line[i] === '\\') i++
        } else if (char === '{') here.depth++
        else if (char === '}') {
          if (here.depth > 0) here.depth--
          else if (stack.length > 1) stack.pop()
        }
      }
    }
    return atCode
  })
}

/** The snippet with a marker call in front of each top-level statement (columns shift, lines do not). */
function instrument(code: string): string {
  const lines = code.split('\n')
  const asCode = startsAsCode(lines)
  return lines.map((source, index) => (asCode[index] && STATEMENT.test(source) ? `globalThis.__readmeAt(${index + 1});${source}` : source)).join('\n')
}

/** Loaded before the snippet: records every console line with the snippet line that printed it. */
const CAPTURE = `
import { writeFileSync } from 'node:fs'
import { format } from 'node:util'
import { pathToFileURL } from 'node:url'
const file = pathToFileURL(process.env.README_SNIPPET).href + ':'
const records = []
let statement = 0
globalThis.__readmeAt = (line) => { statement = line }
for (const method of ['log', 'info', 'debug']) {
  const original = console[method].bind(console)
  console[method] = (...args) => {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 100
    const stack = new Error().stack ?? ''
    Error.stackTraceLimit = limit
    const at = stack.indexOf(file)
    const line = at < 0 ? 0 : Number.parseInt(stack.slice(at + file.length), 10)
    records.push({ line, statement, text: format(...args) })
    original(...args)
  }
}
process.on('exit', () => writeFileSync(process.env.README_CAPTURE, JSON.stringify(records)))
`

/** A console line the snippet printed: from which line, during which top-level statement. */
interface Printed {
  readonly line: number
  readonly statement: number
  readonly text: string
}

/** Each promise that does not hold: what it promised and what was printed instead. */
function mismatches(code: string, printed: readonly Printed[]): Array<{ line: number; promised: string; printed: string }> {
  const promises = promisesOf(code)
  const commented = new Set(promises.map(({ line }) => line))
  const wrong: Array<{ line: number; promised: string; printed: string }> = []
  for (const { line, text } of promises) {
    let own = printed.filter((record) => record.line === line)
    if (own.length === 0) own = printed.filter((record) => record.statement === line && !commented.has(record.line))
    const actual = own.map((record) => record.text).join('\n')
    if (!matches(text, actual)) wrong.push({ line, promised: text, printed: actual })
  }
  return wrong
}

/** Runs `code` as an ES module with 'smtpwire' pointing at the build; returns the run and what it printed. */
function run(dir: string, name: string, code: string) {
  const file = join(dir, `${name}.mjs`)
  const capture = join(dir, 'capture.mjs')
  const record = join(dir, `${name}.json`)
  writeFileSync(capture, CAPTURE)
  writeFileSync(file, instrument(code.replaceAll("from 'smtpwire'", `from ${JSON.stringify(ENTRY)}`)))
  writeFileSync(record, '[]')
  const result = spawnSync(process.execPath, ['--import', capture, file], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, README_SNIPPET: file, README_CAPTURE: record },
  })
  return { result, printed: JSON.parse(readFileSync(record, 'utf8')) as Printed[] }
}

describe('README.md', () => {
  const markdown = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const dir = mkdtempSync(join(tmpdir(), 'smtpwire-readme-'))

  it('has runnable snippets', () => {
    expect(snippets(markdown).length).to.be.greaterThan(5)
  })

  for (const { line, code } of snippets(markdown)) {
    it(`runs the snippet at line ${line} and prints what each // → comment says`, () => {
      const { result, printed } = run(dir, `snippet-${line}`, code)
      expect(result.stderr, `stderr of the snippet at line ${line}`).to.equal('')
      expect(result.status).to.equal(0)
      const wrong = mismatches(code, printed).map((m) => ({ ...m, line: line + m.line }))
      expect(wrong, `README.md lines whose // → differs from the output:\n${result.stdout}`).to.deep.equal([])
    })
  }
})

describe('the README // → checker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smtpwire-readme-check-'))
  const check = (code: string) => {
    const { result, printed } = run(dir, `check-${Math.abs(hash(code))}`, code)
    expect(result.status, result.stderr).to.equal(0)
    return mismatches(code, printed)
  }

  it('reports a comment that differs from what its line printed', () => {
    const code = ["console.log('listening on', 2525) // → listening on", "console.log('ok') // → ok"].join('\n')
    expect(check(code)).to.deep.equal([{ line: 1, promised: 'listening on', printed: 'listening on 2525' }])
  })

  it('takes a comment alone on its line, with its continuation lines, for the code line above', () => {
    const code = [
      "console.log('214-2.0.0 one\\r\\n214 2.0.0 two')",
      '// → 214-2.0.0 one',
      '//   214 2.0.0 two',
      "console.log(['a', 'b']) // → [ 'a', 'b' ]",
    ].join('\n')
    expect(check(code)).to.deep.equal([])
    expect(check(code.replace('//   214 2.0.0 two', '// not a continuation'))).to.deep.equal([
      { line: 1, promised: '214-2.0.0 one', printed: '214-2.0.0 one\r\n214 2.0.0 two' },
    ])
  })

  it('checks a listener line against everything it printed, whenever it ran', () => {
    const code = [
      'const log = (text) => console.log(`[x] ${text}`) // → [x] a [x] b',
      "log('a')",
      "log('b')",
    ].join('\n')
    expect(check(code)).to.deep.equal([])
    expect(check(code.replace('[x] b', '[y] b'))).to.have.length(1)
  })

  it('gives output printed from elsewhere to the commented statement that was running', () => {
    const code = [
      'const print = (text) => console.log(text)',
      "await Promise.resolve().then(() => print('first')) // → first",
      "print('second') // → second",
      "print('third')",
    ].join('\n')
    expect(check(code)).to.deep.equal([])
    expect(check(code.replace('// → second', '// → secnod'))).to.deep.equal([{ line: 3, promised: 'secnod', printed: 'second' }])
  })

  it('lets … stand for text that changes from run to run, and nothing else', () => {
    const code = "console.log(`[${process.pid}] up on port ${1000 + (process.pid % 9)}`) // → […] up on port …"
    expect(check(code)).to.deep.equal([])
    expect(check(code.replace('up on port …', 'up at port …'))).to.have.length(1)
    expect(check(code.replace('[…]', '(…)'))).to.have.length(1)
  })

  it('leaves multi-line template strings and block comments as they are', () => {
    const code = [
      'const body = `Subject: hi',
      '',
      'Hello ${`nested ${1 + 1}`}',
      'done`',
      '/*',
      'not code',
      '*/',
      'console.log(JSON.stringify(body)) // → "Subject: hi\\n\\nHello nested 2\\ndone"',
    ].join('\n')
    expect(check(code)).to.deep.equal([])
  })

  it('reports a comment on a line that printed nothing', () => {
    expect(check('const x = 1 // → 1')).to.deep.equal([{ line: 1, promised: '1', printed: '' }])
  })
})

function hash(text: string): number {
  let h = 0
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0
  return h
}
