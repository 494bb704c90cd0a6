// The socket benchmark's arithmetic and wording (bench/compare-report.ts) on fixed numbers: medians,
// ratios to the raw sink, the issue-15 targets as met / not met / not measured, and the tables.

import { expect } from 'chai'
import {
  checkShare,
  coreTarget,
  cpuMsPerGiB,
  formatCompare,
  largeTargets,
  median,
  quotient,
  smallTargets,
  spread,
  times,
  type CompareResult,
  type LargeResult,
  type ServerName,
  type SmallLoad,
  type SmallResult,
} from '../../bench/compare-report.js'

const MiB = 1024 * 1024

function small(server: ServerName, load: SmallLoad, cpuUs: number, rate: number, failures: string[] = []): SmallResult {
  return {
    server,
    load,
    messagesPerSecond: { median: rate, min: rate - 100, max: rate + 100 },
    serverCpuUs: { median: cpuUs, min: cpuUs - 1, max: cpuUs + 1 },
    p50Ms: load === 'ours' ? 0.5 : Number.NaN,
    p99Ms: load === 'ours' ? 4 : Number.NaN,
    failures,
  }
}

function large(server: ServerName, mode: 'DATA' | 'BDAT', mbPerSecond: number, cpuMs: number, rssMiB: number, minorFaults = 512): LargeResult {
  const rate = mbPerSecond * 1e6
  return { server, mode, bytesPerSecond: { median: rate, min: rate, max: rate }, serverCpuMs: cpuMs, minorFaults, rssGrowth: rssMiB * MiB, failures: [] }
}

describe('bench: compare report', () => {
  it('takes medians, spreads and quotients, and says n/a for what is missing', () => {
    expect(median([3, 1, 2])).to.equal(2)
    expect(median([4, 1, 3, 2])).to.equal(2.5)
    expect(median([])).to.be.NaN
    expect(spread([5, 1, 3])).to.deep.equal({ median: 3, min: 1, max: 5 })
    expect(spread([]).median).to.be.NaN
    expect(quotient(3, 2)).to.equal(1.5)
    expect(quotient(3, 0)).to.equal(undefined)
    expect(quotient(undefined, 2)).to.equal(undefined)
    expect(times(1.234)).to.equal('1.23×')
    expect(times(undefined)).to.equal('n/a')
    expect(cpuMsPerGiB(420, 256 * MiB)).to.equal(1680)
  })

  describe('case 1 targets', () => {
    it('meets CPU/msg ≤ 1.15× raw at exactly 1.15×, not above', () => {
      const at = smallTargets([small('smtpwire', 'ours', 115, 1), small('raw', 'ours', 100, 1)], 'ours')
      expect(at).to.have.length(1)
      expect(at[0]).to.deep.equal({ met: true, line: 'our driver: smtpwire CPU/msg ≤ 1.15× raw sink: met (115 vs 100 µs, 1.15×)' })
      const above = smallTargets([small('smtpwire', 'ours', 116, 1), small('raw', 'ours', 100, 1)], 'ours')
      expect(above[0]?.met).to.equal(false)
      expect(above[0]?.line).to.match(/NOT MET \(116 vs 100 µs, 1\.16×\)$/)
    })

    it('with smtp-source, also asks for less CPU/msg than smtp-sink', () => {
      const results = [
        small('smtpwire', 'source-keep', 110, 1),
        small('raw', 'source-keep', 100, 1),
        small('smtp-sink', 'source-keep', 114, 1),
        small('smtpwire', 'source-per-connection', 342, 1),
        small('raw', 'source-per-connection', 182, 1),
        small('smtp-sink', 'source-per-connection', 246, 1),
      ]
      expect(smallTargets(results, 'source-keep').map((t) => t.line)).to.deep.equal([
        'smtp-source -d: smtpwire CPU/msg ≤ 1.15× raw sink: met (110 vs 100 µs, 1.10×)',
        "smtp-source -d: smtpwire CPU/msg below smtp-sink's: met (110 vs 114 µs, 0.96×)",
      ])
      expect(smallTargets(results, 'source-per-connection').map((t) => t.met)).to.deep.equal([false, false])
    })

    it('says not measured when a server is missing or all its runs failed', () => {
      const results = [small('smtpwire', 'source-keep', 110, 1), small('raw', 'source-keep', 100, 1, ['smtp-source exited with 1'])]
      expect(smallTargets(results, 'source-keep').map((t) => [t.met, t.line])).to.deep.equal([
        [null, 'smtp-source -d: smtpwire CPU/msg ≤ 1.15× raw sink: not measured'],
        [null, "smtp-source -d: smtpwire CPU/msg below smtp-sink's: not measured"],
      ])
    })
  })

  describe('case 2 targets', () => {
    it('checks bytes/s ≥ 0.80× raw, CPU/GiB ≤ 1.25× raw and RSS growth ≤ 64 MiB, for DATA and BDAT', () => {
      const results = [
        large('smtpwire', 'DATA', 433, 420, 12),
        large('raw', 'DATA', 1018, 220, 7),
        large('smtpwire', 'BDAT', 900, 260, 70),
        large('raw', 'BDAT', 1000, 220, 17),
      ]
      expect(largeTargets(results, 256 * MiB).map((t) => t.line)).to.deep.equal([
        'DATA: smtpwire bytes/s ≥ 0.80× raw sink: NOT MET (0.43×)',
        'DATA: smtpwire CPU/GiB ≤ 1.25× raw sink: NOT MET (1680 vs 880 ms/GiB, 1.91×)',
        'DATA: smtpwire peak RSS growth ≤ 64.0 MiB: met (12.0 MiB)',
        'BDAT: smtpwire bytes/s ≥ 0.80× raw sink: met (0.90×)',
        'BDAT: smtpwire CPU/GiB ≤ 1.25× raw sink: met (1040 vs 880 ms/GiB, 1.18×)',
        'BDAT: smtpwire peak RSS growth ≤ 64.0 MiB: NOT MET (70.0 MiB)',
      ])
    })

    it('prints a third digit where two would show the bar itself, and only there', () => {
      const bdat = (cpuMs: number): string[] =>
        largeTargets([large('smtpwire', 'BDAT', 2463, cpuMs, 0), large('raw', 'BDAT', 3088, 80, 0)], 256 * MiB)
          .map((t) => t.line)
          .filter((line) => line.startsWith('BDAT'))
      const lines = bdat(100)
      expect(lines[0]).to.equal('BDAT: smtpwire bytes/s ≥ 0.80× raw sink: NOT MET (0.798×)')
      expect(lines[1]).to.equal('BDAT: smtpwire CPU/GiB ≤ 1.25× raw sink: met (400 vs 320 ms/GiB, 1.25×)')
      expect(bdat(100.3)[1]).to.equal('BDAT: smtpwire CPU/GiB ≤ 1.25× raw sink: NOT MET (401 vs 320 ms/GiB, 1.254×)')
    })

    it('says not measured without a raw sink run', () => {
      const checks = largeTargets([large('smtpwire', 'DATA', 433, 420, 12)], 256 * MiB)
      expect(checks.map((t) => t.met)).to.deep.equal([null, null, true, null, null, null])
    })
  })

  it("says what the bare CR/LF check costs under BDAT, from smtpwire against smtpwire-keep, only when both ran", () => {
    const results = [large('smtpwire', 'DATA', 500, 200, 0), large('smtpwire', 'BDAT', 2000, 100, 0), large('raw', 'BDAT', 2000, 80, 0)]
    expect(checkShare(results)).to.deep.equal([])
    expect(checkShare([...results, large('smtpwire-keep', 'BDAT', 2000, 90, 0)])).to.deep.equal([
      "BDAT: the bare CR/LF check costs smtpwire 1.11× the CPU of lineEndings 'keep'; ÷ raw sink 1.13× without it, 1.25× with it",
    ])
    expect(checkShare([large('smtpwire', 'BDAT', 2000, 100, 0), large('smtpwire-keep', 'BDAT', 2000, 80, 0)])).to.deep.equal([
      "BDAT: the bare CR/LF check costs smtpwire 1.25× the CPU of lineEndings 'keep'",
    ])
  })

  it('checks case 3 against 2 GB/s', () => {
    expect(coreTarget(2.1e9)).to.deep.equal({ met: true, line: 'whole SmtpProtocol session, library defaults ≥ 2 GB/s: met (2.10 GB/s)' })
    expect(coreTarget(1.2e9).met).to.equal(false)
  })

  it('prints a table per load, with the ratio to the raw sink, failures and targets', () => {
    const result: CompareResult = {
      machine: 'test machine',
      repeat: 3,
      malloc: 'pinned',
      loads: { ours: { messages: 10000, sessions: 20, size: 4096 }, 'source-keep': { messages: 20000, sessions: 50, size: 4096 } },
      largeSize: 256 * MiB,
      notes: ['a note'],
      small: [
        small('smtpwire', 'ours', 77, 21000),
        small('raw', 'ours', 45, 38000),
        small('smtpwire', 'source-keep', 66.5, 9000),
        small('smtp-server', 'source-keep', 85, 8000, ['smtp-server counted 19999 of 20000 messages']),
        small('raw', 'source-keep', 46, 11000),
        small('smtp-sink', 'source-keep', 53, 12000),
      ],
      large: [large('smtpwire', 'DATA', 433, 420, 12, 2560), large('raw', 'DATA', 1018, 220, 7)],
    }
    const text = formatCompare(result)
    expect(text).to.include('machine: test machine\n')
    expect(text).to.include('a note\n')
    expect(text).to.include('glibc malloc pinned for every server')
    expect(text).to.include('our pipelining load driver (bench/smtp-client.ts)\n  10000 messages of 4096 octets, 20 sessions\n')
    const row = (name: string): string => text.split('\n').find((line) => line.trimStart().startsWith(name) && /\d/.test(line)) ?? ''
    expect(row('smtpwire').trim().split(/\s{2,}/)).to.deep.equal(['smtpwire', '21000', '20900–21100', '0.50', '4.00', '77', '76–78', '1.71×'])
    expect(text).to.match(/smtp-server +8000 +7900–8100 +85 +84–86 +n\/a +1 failed: smtp-server counted 19999 of 20000 messages\n/)
    expect(text).to.match(/smtp-sink \(C\) +12000 +11900–12100 +53 +52–54 +1\.15×\n/)
    expect(text).to.include('  target: our driver: smtpwire CPU/msg ≤ 1.15× raw sink: NOT MET (77 vs 45 µs, 1.71×)\n')
    expect(text).to.include("  target: smtp-source -d: smtpwire CPU/msg below smtp-sink's: NOT MET (67 vs 53 µs, 1.25×)\n")
    // 2560 minor faults over 256 MiB: 10 per MiB.
    expect(text).to.match(/smtpwire +DATA +433 +433–433 +0\.43× +420 +1680 +1\.91× +10 +12\.0\n/)
    expect(text).to.include('  target: BDAT: smtpwire bytes/s ≥ 0.80× raw sink: not measured\n')
    expect(text).not.to.include('one connection per message')
  })

  it('measures a connection per message against the same bars, not as a target', () => {
    const result: CompareResult = {
      machine: 'test machine',
      repeat: 1,
      malloc: 'default',
      loads: { 'source-per-connection': { messages: 5000, sessions: 50, size: 4096 } },
      largeSize: 256 * MiB,
      notes: [],
      small: [small('smtpwire', 'source-per-connection', 293, 2781), small('raw', 'source-per-connection', 354, 1398), small('smtp-sink', 'source-per-connection', 222, 3529)],
      large: [],
    }
    const text = formatCompare(result)
    expect(text).to.include('glibc malloc as it comes')
    expect(text).to.include("  beyond the targets: smtp-source, a connection per message: smtpwire CPU/msg below smtp-sink's: NOT MET (293 vs 222 µs, 1.32×)\n")
    expect(text).not.to.include('target: smtp-source, a connection per message')
  })
})
