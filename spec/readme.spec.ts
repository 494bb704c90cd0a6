// Runs every README code block that imports 'smtpwire' and checks that what each `// → …`
// comment promises is printed. A README snippet that stops working fails the build.

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

describe('README.md', () => {
  const markdown = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const dir = mkdtempSync(join(tmpdir(), 'smtpwire-readme-'))

  it('has runnable snippets', () => {
    expect(snippets(markdown).length).to.be.greaterThan(5)
  })

  for (const { line, code } of snippets(markdown)) {
    it(`runs the snippet at line ${line} and prints what it promises`, () => {
      const file = join(dir, `snippet-${line}.mjs`)
      writeFileSync(file, code.replaceAll("from 'smtpwire'", `from ${JSON.stringify(ENTRY)}`))
      const run = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 })
      expect(run.stderr, `stderr of the snippet at line ${line}`).to.equal('')
      expect(run.status).to.equal(0)
      const output = squash(run.stdout)
      for (const promised of code.matchAll(/\/\/ → (.*)$/gm)) {
        const text = squash(promised[1] ?? '')
        expect(output, `the output of the snippet at line ${line}`).to.include(text)
      }
    })
  }
})
