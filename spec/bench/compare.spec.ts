// The socket benchmark's runner (bench/compare.ts) at toy sizes: Postfix's programs missing are
// one line each and no crash; a small real run goes through every load and the large case, and
// every server counts every message. No figure is asserted: only that the runs happened and agree.

import { expect } from 'chai'
import { formatCompare } from '../../bench/compare-report.js'
import { runCompare, type CompareSettings } from '../../bench/compare.js'
import { findPostfixTool, POSTFIX_INSTALL } from '../../bench/postfix.js'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { cpuMeter, cpuTimeMs, minorFaults, PINNED_MALLOC, pinnedMallocEnv, spawnServer, threadCpuMs } from '../../bench/proc.js'
import { runSession } from '../../bench/smtp-client.js'
import { requireTool } from '../helpers/external-tools.js'

const BASE: CompareSettings = {
  repeat: 1,
  cases: new Set(['small']),
  servers: ['raw', 'smtp-sink'],
  loads: {
    'source-keep': { messages: 20, sessions: 2, size: 1000 },
    'source-per-connection': { messages: 10, sessions: 2, size: 1000 },
  },
  warmUp: {},
  largeSize: 1024 * 1024,
  smtpSource: null,
  smtpSink: null,
  malloc: 'pinned',
}

describe('bench: compare', () => {
  it("splits a process's CPU time by thread, the main thread's user and system apart", function () {
    if (process.platform !== 'linux') this.skip()
    const split = threadCpuMs(process.pid)
    const after = cpuTimeMs(process.pid)
    for (const value of [split.mainUser, split.mainSystem, split.others]) expect(value).to.be.at.least(0)
    // Threads that ended before the look count in the process's total only.
    expect(split.mainUser + split.mainSystem + split.others).to.be.at.most(after)
  })

  it('meters CPU time per thread in ns and counts minor faults, both growing with the work done', function () {
    if (process.platform !== 'linux') this.skip()
    const meter = cpuMeter(process.pid)
    const faults = minorFaults(process.pid)
    const ticks = cpuTimeMs(process.pid)
    // Burn CPU until the 10 ms tick counter moves twice: work, not a wait.
    let sink = 0
    while (cpuTimeMs(process.pid) < ticks + 20) sink += Math.sqrt(sink + 1)
    const touched = Buffer.alloc(8 * 1024 * 1024, 1) // fresh pages: faults
    expect(sink).to.be.above(0)
    expect(meter()).to.be.at.least(10)
    expect(minorFaults(process.pid)).to.be.above(faults)
    expect(touched[touched.length - 1]).to.equal(1)
  })

  it('pins glibc malloc in the environment it gives a server child, after tunables already set', async function () {
    if (process.platform !== 'linux') this.skip()
    expect(pinnedMallocEnv({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }).GLIBC_TUNABLES).to.equal(`glibc.pthread.rseq=0:${PINNED_MALLOC}`)
    const child = await spawnServer(fileURLToPath(new URL('../../bench/server-child.js', import.meta.url)), ['raw'], /listening on (\d+)/, [], pinnedMallocEnv())
    try {
      // What the child got (glibc's loader may rewrite the variable once it has read it: 2.36 keeps the first tunable only).
      const tunables = readFileSync(`/proc/${child.pid}/environ`, 'latin1').split('\0').find((entry) => entry.startsWith('GLIBC_TUNABLES='))
      expect(tunables).to.include('glibc.malloc.trim_threshold=268435456')
    } finally {
      await child.stop()
    }
  })

  it('smtpwire-keep is smtpwire without the bare CR/LF check: it takes a body with a bare LF, smtpwire refuses it', async () => {
    const script = fileURLToPath(new URL('../../bench/server-child.js', import.meta.url))
    const body = Buffer.from('Subject: x\r\n\r\nbare\nLF\r\n')
    const replies: string[] = []
    for (const kind of ['smtpwire', 'smtpwire-keep']) {
      const child = await spawnServer(script, [kind], /listening on (\d+)/)
      try {
        for (const bdat of [false, true]) {
          const { results } = await runSession({ host: '127.0.0.1', port: child.port, messages: [body], bdat })
          replies.push(`${kind} ${bdat ? 'BDAT' : 'DATA'} ${results[0]?.code}`)
        }
      } finally {
        await child.stop()
      }
    }
    expect(replies).to.deep.equal(['smtpwire DATA 550', 'smtpwire BDAT 550', 'smtpwire-keep DATA 250', 'smtpwire-keep BDAT 250'])
  })

  it('without smtp-source and smtp-sink, says so in one line each and runs the rest', async () => {
    const result = await runCompare(BASE)
    expect(result.notes).to.deep.equal([
      `smtp-source not found: its loads are skipped (install with: ${POSTFIX_INSTALL})`,
      `smtp-sink not found: that server is skipped (install with: ${POSTFIX_INSTALL})`,
    ])
    expect(result.small).to.deep.equal([])
    expect(formatCompare(result)).to.include('smtp-source not found')
  })

  it('runs every load and the large case against the raw sink, smtp-sink and smtpwire-keep, interleaved, all messages counted', async function () {
    this.timeout(60_000)
    const smtpSource = findPostfixTool('smtp-source')
    const smtpSink = findPostfixTool('smtp-sink')
    if (!smtpSource) return requireTool(this, 'smtp-source', POSTFIX_INSTALL)
    if (!smtpSink) return requireTool(this, 'smtp-sink', POSTFIX_INSTALL)
    const lines: string[] = []
    const result = await runCompare(
      {
        ...BASE,
        repeat: 2,
        cases: new Set(['small', 'large']),
        servers: ['raw', 'smtp-sink', 'smtpwire-keep'],
        loads: { ...BASE.loads, ours: { messages: 20, sessions: 2, size: 1000 } },
        warmUp: { ours: [2, 4], 'source-keep': [4], 'source-per-connection': [2] },
        smtpSource,
        smtpSink,
      },
      (line) => lines.push(line),
    )
    expect(result.notes).to.deep.equal([])
    // smtp-sink only under smtp-source; smtpwire-keep only in case 2.
    expect(result.small.map((r) => [r.load, r.server])).to.deep.equal([
      ['ours', 'raw'],
      ['source-keep', 'raw'],
      ['source-keep', 'smtp-sink'],
      ['source-per-connection', 'raw'],
      ['source-per-connection', 'smtp-sink'],
    ])
    expect(result.small.flatMap((r) => r.failures)).to.deep.equal([])
    expect(result.small.every((r) => r.serverCpuUs.median >= 0 && r.messagesPerSecond.median > 0)).to.equal(true)
    expect(result.large.map((r) => [r.server, r.mode, r.failures.length])).to.deep.equal([
      ['raw', 'DATA', 0],
      ['raw', 'BDAT', 0],
      ['smtp-sink', 'DATA', 0],
      ['smtpwire-keep', 'BDAT', 0],
    ])
    // Repeats interleave across servers: run 1 of each, then run 2 of each.
    // A progress line up to its colon, spaces squeezed: which run of what, on which server.
    const runs = (which: (line: string) => boolean): string[] => lines.filter(which).map((line) => line.replace(/:.*/, '').replace(/\s+/g, ' '))
    expect(runs((line) => line.includes('source-keep'))).to.deep.equal([
      'case 1 source-keep raw sink run 1',
      'case 1 source-keep smtp-sink (C) run 1',
      'case 1 source-keep raw sink run 2',
      'case 1 source-keep smtp-sink (C) run 2',
    ])
    // Case 2: every DATA run before any BDAT run, so no run pays for the other mode's garbage.
    expect(runs((line) => line.startsWith('case 2'))).to.deep.equal([
      'case 2 raw sink DATA run 1',
      'case 2 smtp-sink (C) DATA run 1',
      'case 2 raw sink DATA run 2',
      'case 2 smtp-sink (C) DATA run 2',
      // BDAT, the shorter run, three times as often.
      ...[1, 2, 3, 4, 5, 6].flatMap((run) => [`case 2 raw sink BDAT run ${run}`, `case 2 smtpwire keep BDAT run ${run}`]),
    ])
    const text = formatCompare(result)
    expect(text).to.include('smtp-source -d: sessions kept')
    expect(text).to.include("smtp-source without -d: one connection per message (smtp-source's default)")
    expect(text).to.include('case 2: one message of 1.0 MiB')
  })
})
