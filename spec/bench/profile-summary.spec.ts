// The CPU-profile summariser behind `npm run bench:profile` (bench/profile-summary.ts), on a small
// synthetic .cpuprofile: which phase each sample lands in, how long a sample lasts, the window,
// and the table with the CPU estimate.

import { expect } from 'chai'
import {
  formatPhases,
  formatTopFunctions,
  framePhase,
  libModule,
  stackPhase,
  summarise,
  userCpuByPhase,
  type CallFrame,
  type CpuProfile,
  type Phase,
  type ProfileColumn,
} from '../../bench/profile-summary.js'

const LIB = 'file:///work/smtpwire/dist/lib'
const frame = (functionName: string, url = '', lineNumber = 0): CallFrame => ({ functionName, url, lineNumber, columnNumber: 0 })

// (root)
// ├ (program) 2, (idle) 3, (garbage collector) 4
// ├ onStreamRead 5 → streamOnData (attach) 6 → feed (engine) 7 ┬ read (line-reader) 8 → indexOf (native) 11
// │                                                             └ write (attach) 10 → Writable.write 13 → writeBuffer (native) 14
// ├ listOnTimeout 9
// └ Readable.push 12
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 5, 9, 12] },
    { id: 2, callFrame: frame('(program)') },
    { id: 3, callFrame: frame('(idle)') },
    { id: 4, callFrame: frame('(garbage collector)') },
    { id: 5, callFrame: frame('onStreamRead', 'node:internal/stream_base_commons', 167), children: [6] },
    { id: 6, callFrame: frame('streamOnData', `${LIB}/attach.js`, 185), children: [7] },
    { id: 7, callFrame: frame('feed', `${LIB}/engine.js`, 148), children: [8, 10] },
    { id: 8, callFrame: frame('read', `${LIB}/line-reader.js`, 33), children: [11] },
    { id: 9, callFrame: frame('listOnTimeout', 'node:internal/timers', 511) },
    { id: 10, callFrame: frame('write', `${LIB}/attach.js`, 41), children: [13] },
    { id: 11, callFrame: frame('indexOf') },
    { id: 12, callFrame: frame('Readable.push', 'node:internal/streams/readable', 386) },
    { id: 13, callFrame: frame('Writable.write', 'node:internal/streams/writable', 503), children: [14] },
    { id: 14, callFrame: frame('writeBuffer') },
  ],
  startTime: 1000,
  // Samples at 1010, 1030, 1060, 1100, 1150, 1210, 1280, 1360, 1450, 1550; each lasts until the next, the last until endTime.
  samples: [5, 11, 14, 13, 4, 3, 2, 9, 12, 8],
  timeDeltas: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
  endTime: 1555,
}

function nonZero(phases: ReadonlyMap<Phase, number>): Record<string, number> {
  return Object.fromEntries([...phases].filter(([, us]) => us > 0))
}

describe('bench: profile summary', () => {
  it("knows smtpwire's modules by URL, and nobody else's", () => {
    expect(libModule(`${LIB}/engine.js`)).to.equal('engine')
    expect(libModule(`${LIB}/commands/data.js`)).to.equal('commands/data')
    expect(libModule('/home/me/smtpwire/lib/dot-decoder.ts')).to.equal('dot-decoder')
    expect(libModule('file:///app/node_modules/smtp-server/lib/smtp-connection.js')).to.equal(null)
    expect(libModule('node:internal/streams/writable')).to.equal(null)
  })

  it('names the phase of a frame by file, and by function in the glue files', () => {
    const phase = (name: string, file: string): Phase | null => framePhase(frame(name, `${LIB}/${file}`))
    expect(phase('parseCommand', 'parser.js')).to.equal('framing, parsing')
    expect(phase('x', 'commands/envelope.js')).to.equal('envelope (MAIL, RCPT)')
    expect(phase('consume', 'commands/data.js')).to.equal('DATA / BDAT body')
    expect(phase('decode', 'dot-decoder.js')).to.equal('DATA / BDAT body')
    expect(phase('flush', 'reply-queue.js')).to.equal('replies')
    expect(phase('dispatch', 'decisions.js')).to.equal('listener dispatch, decisions')
    expect(phase('armFor', 'timeouts.js')).to.equal('session state, session commands')
    expect(phase('readCommand', 'engine.js')).to.equal('engine input loop')
    expect(phase('close', 'engine.js')).to.equal('connection setup, teardown')
    expect(phase('feed', 'protocol.js')).to.equal('engine input loop')
    expect(phase('constructor', 'protocol.js')).to.equal('connection setup, teardown')
    expect(phase('writeOne', 'attach.js')).to.equal('replies')
    expect(phase('streamOnData', 'attach.js')).to.equal('socket reads, Node streams')
    expect(phase('attachStream', 'attach.js')).to.equal('connection setup, teardown')
    expect(phase('x', 'server.js')).to.equal('connection setup, teardown')
    expect(framePhase(frame('onData', 'file:///w/dist/bench/raw-sink.js'))).to.equal('raw sink (bench)')
    expect(framePhase(frame('x', 'file:///w/dist/bench/server-child.js'))).to.equal('bench handler (discard)')
    expect(framePhase(frame('x', 'file:///w/node_modules/smtp-server/lib/smtp-connection.js'))).to.equal('smtp-server (nodemailer)')
    expect(framePhase(frame('emit', 'node:events'))).to.equal(null)
  })

  it('gives a stack the phase of its first frame that names one, a native write at the leaf first', () => {
    const write = [frame('writeBuffer'), frame('Writable.write', 'node:internal/streams/writable'), frame('write', `${LIB}/attach.js`)]
    expect(stackPhase(write)).to.equal('socket writes (kernel)')
    // The same function name from JavaScript is not the native write.
    expect(stackPhase([frame('writeBuffer', 'node:somewhere'), frame('flush', `${LIB}/reply-queue.js`)])).to.equal('replies')
    expect(stackPhase([frame('indexOf'), frame('decode', `${LIB}/dot-decoder.js`), frame('feed', `${LIB}/engine.js`)])).to.equal('DATA / BDAT body')
    expect(stackPhase([frame('emit', 'node:events'), frame('addChunk', 'node:internal/streams/readable')])).to.equal('socket reads, Node streams')
    expect(stackPhase([frame('listOnTimeout', 'node:internal/timers')])).to.equal('other')
    expect(stackPhase([frame('(garbage collector)')])).to.equal('GC (main thread)')
    expect(stackPhase([])).to.equal('other')
  })

  it('sums each sample until the next one, per phase', () => {
    const summary = summarise(PROFILE)
    expect(nonZero(summary.phases)).to.deep.equal({
      'socket reads, Node streams': 20 + 100,
      'framing, parsing': 30 + 5,
      'socket writes (kernel)': 40,
      replies: 50,
      'GC (main thread)': 60,
      idle: 70,
      'native, no JS frame': 80,
      other: 90,
    })
    expect(summary.samples).to.equal(10)
    expect(summary.totalUs).to.equal(545)
    expect(summary.functions.get('framing, parsing read dist/lib/line-reader.js:34')).to.deep.equal({
      name: 'read dist/lib/line-reader.js:34',
      phase: 'framing, parsing',
      us: 5,
    })
    expect(summary.functions.get('framing, parsing indexOf')?.us).to.equal(30)
  })

  it('keeps one top-list entry per function and phase', () => {
    // Buffer.concat's copy under the DATA reader and under the bench's own code: two entries.
    const concat = (id: number): { id: number; callFrame: CallFrame } => ({ id, callFrame: frame('_copyActual', 'node:buffer', 240) })
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 4] },
        { id: 2, callFrame: frame('fireChunk', `${LIB}/commands/data.js`, 132), children: [3] },
        concat(3),
        { id: 4, callFrame: frame('main', 'file:///w/dist/bench/core.js', 9), children: [5] },
        concat(5),
      ],
      startTime: 0,
      samples: [5, 3, 3],
      timeDeltas: [1, 1, 1],
      endTime: 4,
    }
    const entries = [...summarise(profile).functions.values()].map((entry) => [entry.phase, entry.name, entry.us])
    expect(entries).to.deep.equal([
      ['other', '_copyActual node:buffer:241', 1],
      ['DATA / BDAT body', '_copyActual node:buffer:241', 2],
    ])
  })

  it('counts only the samples taken inside a window', () => {
    const summary = summarise(PROFILE, { from: 1060, to: 1360 })
    expect(nonZero(summary.phases)).to.deep.equal({
      'socket writes (kernel)': 40,
      replies: 50,
      'GC (main thread)': 60,
      idle: 70,
      'native, no JS frame': 80,
    })
    expect([summary.samples, summary.totalUs]).to.deep.equal([5, 300])
  })

  it("spreads the main thread's user CPU over the JavaScript phases, and prints the table", () => {
    const column: ProfileColumn = {
      title: 'smtpwire',
      summary: summarise(PROFILE),
      messages: 5,
      processCpuUs: 1000,
      threads: { mainUser: 550, mainSystem: 300, others: 150 },
    }
    // JavaScript phases: reads 120, framing 35, replies 50, GC 60, other 90 = 355 µs of samples for 550 µs of CPU.
    const cpu = userCpuByPhase(column)
    expect(cpu?.get('framing, parsing')).to.be.closeTo((35 * 550) / 355 / 5, 1e-9)
    expect(cpu?.has('socket writes (kernel)')).to.equal(false)
    expect([...(cpu?.values() ?? [])].reduce((a, b) => a + b, 0)).to.be.closeTo(110, 1e-9)
    expect(userCpuByPhase({ ...column, threads: undefined })).to.equal(null)

    const lines = formatPhases([column])
    const row = (label: string): string[] => (lines.find((line) => line.startsWith(label)) ?? '').slice(label.length).trim().split(/\s+/)
    expect(lines[0]).to.match(/^phase +smtpwire: sampled µs\/msg +% +CPU≈ µs\/msg$/)
    expect(row('framing, parsing')).to.deep.equal(['7.0', '7.4', ((35 * 550) / 355 / 5).toFixed(1)])
    expect(row('socket writes (kernel)')).to.deep.equal(['8.0', '8.4'])
    expect(row('main thread, not idle (profile)')).to.deep.equal(['95.0', '100.0'])
    expect(row('main thread, idle (profile)')).to.deep.equal(['14.0'])
    expect(row('CPU: main thread, system (its syscalls)')).to.deep.equal(['60.0'])
    expect(row('CPU: process, all threads (/proc)')).to.deep.equal(['200.0'])
    expect(lines.some((line) => line.startsWith('envelope'))).to.equal(false)

    const top = formatTopFunctions(column, 2)
    expect(top).to.have.length(2)
    expect(top[0]).to.match(/^ +20\.0 µs\/msg +21\.1% +socket reads, Node streams +Readable\.push node:internal\/streams\/readable:387$/)
  })
})
