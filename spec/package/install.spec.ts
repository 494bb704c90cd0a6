// The package as a user gets it (issue 13): `npm pack` (whose prepare script builds lib/ into
// build/, apart from the dist/ these specs run from), then the tarball installed offline into an
// empty project outside the repository, used from an ES module, CommonJS and strict TypeScript.
// The consumers run on the Node running the specs, so .ci/node-versions.sh checks 22 and 24 too.

import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const FIXTURES = join(ROOT, 'spec', 'package', 'consumer')

// Coverage is collected for this mocha process only; npm, tsc and the consumers must not write
// V8 coverage files into c8's directory.
const { NODE_V8_COVERAGE: _coverage, ...ENV } = process.env

function run(command: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env: ENV, encoding: 'utf8' })
  if (result.error) throw result.error
  return result
}

/** Runs a command that must succeed; on failure the error carries everything it printed. */
function ok(command: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const result = run(command, args, cwd)
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}\n${result.stdout}\n${result.stderr}`)
  }
  return result
}

/** Every file under `dir`, as relative paths with `/`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
}

describe('the npm package', function () {
  let work: string
  let consumer: string
  let tarball: string
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }

  before(function () {
    // Packing builds lib/ and installing runs npm: slow on a busy machine, so a generous guard.
    this.timeout(180_000)
    work = mkdtempSync(join(tmpdir(), 'smtpwire-package-'))
    ok('npm', ['pack', '--pack-destination', work], ROOT)
    const tarballs = readdirSync(work).filter((name) => name.endsWith('.tgz'))
    expect(tarballs).to.deep.equal([`smtpwire-${version}.tgz`])
    tarball = join(work, `smtpwire-${version}.tgz`)

    consumer = join(work, 'consumer')
    mkdirSync(consumer)
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
    cpSync(FIXTURES, consumer, { recursive: true })
    // The tarball has no dependencies, so nothing needs the network.
    ok('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], consumer)
    // Node's types are the consumer's own business; lend it ours (linked after npm install, which
    // would prune a package it did not install).
    mkdirSync(join(consumer, 'node_modules', '@types'))
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'), 'dir')
  })

  after(function () {
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('holds the compiled lib/ with declarations, the README, LICENSE and CHANGELOG, and nothing else', function () {
    const expected = ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']
    for (const file of filesUnder(join(ROOT, 'lib')).filter((name) => name.endsWith('.ts'))) {
      const stem = file.slice(0, -'.ts'.length)
      expected.push(`build/${stem}.js`, `build/${stem}.d.ts`)
    }
    expect(filesUnder(join(consumer, 'node_modules', 'smtpwire')).sort()).to.deep.equal(expected.sort())
  })

  it('brings no dependencies into the project that installs it', function () {
    const installed = readdirSync(join(consumer, 'node_modules')).sort()
    expect(installed).to.deep.equal(['.package-lock.json', '@types', 'smtpwire'])
  })

  it('runs from an ES module: a real SmtpServer on port 0 answers a TCP client', function () {
    const result = ok(process.execPath, ['esm.mjs'], consumer)
    expect(result.stdout.split('\n')).to.deep.equal([
      '220 mx.test ESMTP smtpwire',
      '250 mx.test greets client.test',
      '550 Go away',
      '221 mx.test Service closing transmission channel',
      '',
    ])
    expect(result.stderr).to.equal('')
  })

  it('runs from CommonJS require() without a flag or a warning', function () {
    const result = ok(process.execPath, ['cjs.cjs'], consumer)
    expect(result.stdout.split('\n')).to.deep.equal([
      `smtpwire ${version}`,
      '220 mx.test ESMTP smtpwire',
      '250-mx.test greets client.test',
      '250 2.1.0 Sender OK',
      '550 5.7.1 Relay access denied',
      '',
    ])
    expect(result.stderr).to.equal('')
  })

  it('type-checks under strict nodenext with exactOptionalPropertyTypes and no skipLibCheck, and runs', function () {
    this.timeout(120_000)
    const tsc = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], consumer)
    expect(tsc.stdout + tsc.stderr).to.equal('')
    expect(tsc.status).to.equal(0)

    const esm = ok(process.execPath, [join('out', 'typed.mjs')], consumer)
    expect(esm.stdout.split('\n')).to.deep.equal([
      '220 mx.test ESMTP smtpwire',
      '250 2.1.0 Sender OK',
      '250 2.1.5 Recipient OK',
      '354 End data with <CR><LF>.<CR><LF>',
      '250 2.0.0 Queued 22 octets',
      '250 451 string',
      '',
    ])
    const cjs = ok(process.execPath, [join('out', 'typed.cjs')], consumer)
    expect(cjs.stdout).to.equal('220 mx.test from CommonJS\n')
    expect(esm.stderr + cjs.stderr).to.equal('')
  })
})
