// Reads a V8 CPU profile (`node --cpu-prof`'s .cpuprofile JSON) and says where a server's
// main-thread time went, per command phase: each sample goes to the phase of the first frame,
// walking from the leaf towards the root, that identifies one. A native socket write at the leaf
// is the kernel's write; otherwise the nearest smtpwire (lib/) frame decides, so Node internals
// called from our code (Buffer methods, stream plumbing, emit) count for the phase that called
// them; with no lib/ frame on the stack, Node's stream and net code is socket reading. Pure.

/** The parts of a .cpuprofile this reads. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  /** Microseconds, on the clock process.hrtime reads (CLOCK_MONOTONIC). */
  readonly startTime: number
  readonly endTime: number
  /** The node id of each sample's leaf frame. */
  readonly samples: readonly number[]
  /** Microseconds from the previous sample (the first: from startTime). */
  readonly timeDeltas: readonly number[]
}

/** One call-tree node. */
export interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: readonly number[]
}

/** A function and where it is. */
export interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber?: number
}

/** The phases, in the order they are printed. */
export const PHASES = [
  'socket writes (kernel)',
  'socket reads, Node streams',
  'engine input loop',
  'framing, parsing',
  'envelope (MAIL, RCPT)',
  'DATA / BDAT body',
  'replies',
  'listener dispatch, decisions',
  'session state, session commands',
  'connection setup, teardown',
  'bench handler (discard)',
  'raw sink (bench)',
  'smtp-server (nodemailer)',
  'GC (main thread)',
  'native, no JS frame',
  'other',
  'idle',
] as const

/** One of PHASES. */
export type Phase = (typeof PHASES)[number]

// stream_base's native write methods: the time spent in them is the write system call.
const NATIVE_WRITES = new Set(['writeBuffer', 'writev', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String'])

// smtpwire's files (dist/lib/…, build/…, or lib/….ts) to phases; attach, protocol and engine go by function below.
const FILE_PHASES: Record<string, Phase> = {
  'line-reader': 'framing, parsing',
  parser: 'framing, parsing',
  params: 'framing, parsing',
  address: 'framing, parsing',
  'command-line': 'framing, parsing',
  'commands/index': 'framing, parsing',
  'commands/guards': 'framing, parsing',
  'commands/envelope': 'envelope (MAIL, RCPT)',
  'dot-decoder': 'DATA / BDAT body',
  'message-body': 'DATA / BDAT body',
  'header-scanner': 'DATA / BDAT body',
  'message-stream': 'DATA / BDAT body',
  received: 'DATA / BDAT body',
  'commands/data': 'DATA / BDAT body',
  replies: 'replies',
  'reply-queue': 'replies',
  errors: 'replies',
  events: 'listener dispatch, decisions',
  decisions: 'listener dispatch, decisions',
  gate: 'listener dispatch, decisions',
  session: 'session state, session commands',
  'session-info': 'session state, session commands',
  timeouts: 'session state, session commands',
  'commands/session': 'session state, session commands',
  'commands/auth': 'session state, session commands',
  'commands/tls': 'session state, session commands',
  'commands/xclient': 'session state, session commands',
  engine: 'engine input loop',
  host: 'engine input loop',
  server: 'connection setup, teardown',
  protocol: 'connection setup, teardown',
  options: 'connection setup, teardown',
  'server-options': 'connection setup, teardown',
  'connection-limits': 'connection setup, teardown',
  capabilities: 'connection setup, teardown',
  proxy: 'connection setup, teardown',
  'proxy-header': 'connection setup, teardown',
  tls: 'connection setup, teardown',
  'reverse-dns': 'connection setup, teardown',
  logger: 'connection setup, teardown',
  diagnostics: 'connection setup, teardown',
  'ip-range': 'connection setup, teardown',
  transport: 'connection setup, teardown',
  index: 'connection setup, teardown',
}

// attach.ts by function: reading and flow control, setup and teardown; the rest of it writes replies.
const ATTACH_READS = new Set(['streamOnData', 'toBuffer', 'pause', 'resume'])
const ATTACH_SETUP = new Set(['wire', 'unwire', 'attachStream', 'streamOnEnd', 'streamOnClose', 'streamOnError'])
const ENGINE_SETUP = new Set(['open', 'close', 'destroy', 'end', 'shutdown', 'beginTls'])
const PROTOCOL_LOOP = new Set(['feed', 'drained'])

/** The smtpwire module a URL is (`engine`, `commands/data`), or null for any other script. */
export function libModule(url: string): string | null {
  if (url.includes('/node_modules/')) return null
  const match = /(?:^|\/)(?:dist\/lib|build|lib)\/((?:commands\/)?[\w.-]+?)\.(?:js|ts|mjs)$/.exec(url)
  return match?.[1] ?? null
}

/** The phase a frame identifies by itself (null: look further up the stack). */
export function framePhase(frame: CallFrame): Phase | null {
  const { functionName: name, url } = frame
  const module = libModule(url)
  if (module !== null) {
    if (module === 'attach') {
      if (ATTACH_READS.has(name)) return 'socket reads, Node streams'
      if (ATTACH_SETUP.has(name)) return 'connection setup, teardown'
      return 'replies'
    }
    if (module === 'engine' && ENGINE_SETUP.has(name)) return 'connection setup, teardown'
    if (module === 'protocol' && PROTOCOL_LOOP.has(name)) return 'engine input loop'
    return FILE_PHASES[module] ?? 'other'
  }
  if (/(?:^|\/)bench\/server-child\.[jt]s$/.test(url)) return 'bench handler (discard)'
  if (/(?:^|\/)bench\/raw-sink\.[jt]s$/.test(url)) return 'raw sink (bench)'
  if (url.includes('/node_modules/smtp-server/')) return 'smtp-server (nodemailer)'
  return null
}

/** Node's own stream and socket code: socket reading when nothing of ours is on the stack. */
function isNodeStream(url: string): boolean {
  return /^node:(?:internal\/streams?\/|internal\/stream_base_commons|stream|net|internal\/net)/.test(url)
}

/** The phase of one sample, from its frames leaf first. */
export function stackPhase(frames: readonly CallFrame[]): Phase {
  const leaf = frames[0]
  if (!leaf) return 'other'
  switch (leaf.functionName) {
    case '(garbage collector)':
      return 'GC (main thread)'
    case '(idle)':
      return 'idle'
    case '(program)':
      return 'native, no JS frame'
    case '(root)':
      return 'other'
  }
  if (leaf.url === '' && NATIVE_WRITES.has(leaf.functionName)) return 'socket writes (kernel)'
  for (const frame of frames) {
    const phase = framePhase(frame)
    if (phase !== null) return phase
  }
  if (frames.some((frame) => isNodeStream(frame.url))) return 'socket reads, Node streams'
  return 'other'
}

/** The self time of one function in one phase. */
export interface FunctionTime {
  /** `name url:line` (url shortened to the part from lib/, bench/ or node_modules/). */
  readonly name: string
  readonly phase: Phase
  us: number
}

/** Where the time of a profile went. */
export interface PhaseSummary {
  /** Microseconds of samples per phase (every phase present, 0 when none). */
  readonly phases: ReadonlyMap<Phase, number>
  /**
   * Self time per function and phase, for the top list: a function called from two phases (say
   * Buffer.concat) has an entry for each. Keyed by `phase name url:line`.
   */
  readonly functions: ReadonlyMap<string, FunctionTime>
  /** Samples counted (inside the window). */
  readonly samples: number
  /** Sampled microseconds in all, idle included. */
  readonly totalUs: number
}

/** A stretch of the profile's clock, in µs: [from, to). */
export interface Window {
  readonly from: number
  readonly to: number
}

function shortUrl(url: string): string {
  const at = url.search(/\/(?:dist\/)?(?:lib|bench)\/|\/node_modules\//)
  return at >= 0 ? url.slice(at + 1) : url
}

/**
 * Sums the profile's samples per phase. A sample lasts until the next one (the last until
 * endTime), as DevTools counts; with `window`, only samples taken inside it count.
 */
export function summarise(profile: CpuProfile, window?: Window): PhaseSummary {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
    for (const child of node.children ?? []) parent.set(child, node.id)
  }
  const phaseOfNode = new Map<number, Phase>()
  const phaseOf = (id: number): Phase => {
    let phase = phaseOfNode.get(id)
    if (phase === undefined) {
      const frames: CallFrame[] = []
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const node = byId.get(at)
        if (node) frames.push(node.callFrame)
      }
      phase = stackPhase(frames)
      phaseOfNode.set(id, phase)
    }
    return phase
  }
  const phases = new Map<Phase, number>(PHASES.map((phase) => [phase, 0]))
  const functions = new Map<string, FunctionTime>()
  let samples = 0
  let totalUs = 0
  let time = profile.startTime
  const count = profile.samples.length
  for (let i = 0; i < count; i++) {
    time += profile.timeDeltas[i] ?? 0
    const next = i + 1 < count ? time + (profile.timeDeltas[i + 1] ?? 0) : profile.endTime
    if (window && (time < window.from || time >= window.to)) continue
    const id = profile.samples[i] ?? -1
    const us = Math.max(0, next - time)
    const phase = phaseOf(id)
    phases.set(phase, (phases.get(phase) ?? 0) + us)
    const frame = byId.get(id)?.callFrame
    if (frame) {
      const name = `${frame.functionName || '(anonymous)'}${frame.url ? ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`
      const key = `${phase} ${name}`
      const entry = functions.get(key) ?? { name, phase, us: 0 }
      entry.us += us
      functions.set(key, entry)
    }
    samples++
    totalUs += us
  }
  return { phases, functions, samples, totalUs }
}

/** One server's profile, for the side-by-side table. */
export interface ProfileColumn {
  readonly title: string
  readonly summary: PhaseSummary
  readonly messages: number
  /** utime+stime of the whole process (all threads) over the same stretch, from /proc, in µs. */
  readonly processCpuUs: number
  /** The same split by thread, in µs, when known. */
  readonly threads?: { readonly mainUser: number; readonly mainSystem: number; readonly others: number }
}

function busyUs(summary: PhaseSummary): number {
  return summary.totalUs - (summary.phases.get('idle') ?? 0)
}

// Phases whose samples sit in system calls or native code: wall time, not all of it CPU.
const WAITING: ReadonlySet<Phase> = new Set<Phase>(['socket writes (kernel)', 'native, no JS frame', 'idle'])

/**
 * The main thread's user CPU (from /proc) spread over the JavaScript phases (every phase but
 * WAITING) in proportion to their samples: µs per message of CPU, per phase. Null without /proc figures.
 */
export function userCpuByPhase(column: ProfileColumn): Map<Phase, number> | null {
  if (!column.threads) return null
  let sampled = 0
  for (const [phase, us] of column.summary.phases) if (!WAITING.has(phase)) sampled += us
  const scale = sampled > 0 ? column.threads.mainUser / sampled : 0
  const estimate = new Map<Phase, number>()
  for (const [phase, us] of column.summary.phases) if (!WAITING.has(phase)) estimate.set(phase, (us * scale) / column.messages)
  return estimate
}

/**
 * The phase table, three columns per server: sampled main-thread µs per message (wall clock), its
 * % of the non-idle samples, and ≈CPU µs per message (userCpuByPhase); then the CPU from /proc by thread.
 */
export function formatPhases(columns: readonly ProfileColumn[]): string[] {
  const header = ['phase', ...columns.flatMap((c) => [`${c.title}: sampled µs/msg`, '%', 'CPU≈ µs/msg'])]
  const shown = PHASES.filter((phase) => phase !== 'idle' && columns.some((c) => (c.summary.phases.get(phase) ?? 0) > 0))
  const estimates = columns.map(userCpuByPhase)
  const rows = shown.map((phase) => [
    phase,
    ...columns.flatMap((c, index) => {
      const us = c.summary.phases.get(phase) ?? 0
      const busy = busyUs(c.summary)
      const cpu = estimates[index]?.get(phase)
      return [(us / c.messages).toFixed(1), busy > 0 ? `${((100 * us) / busy).toFixed(1)}` : '–', cpu === undefined ? '' : cpu.toFixed(1)]
    }),
  ])
  rows.push(['main thread, not idle (profile)', ...columns.flatMap((c) => [(busyUs(c.summary) / c.messages).toFixed(1), '100.0', ''])])
  const idle = columns.some((c) => (c.summary.phases.get('idle') ?? 0) > 0)
  if (idle) rows.push(['main thread, idle (profile)', ...columns.flatMap((c) => [((c.summary.phases.get('idle') ?? 0) / c.messages).toFixed(1), '', ''])])
  const split = [
    ['CPU: main thread, user (the CPU≈ sum)', 'mainUser'],
    ['CPU: main thread, system (its syscalls)', 'mainSystem'],
    ['CPU: other threads (GC helpers, JIT, profiler)', 'others'],
  ] as const
  if (columns.some((c) => c.threads)) {
    for (const [label, key] of split) {
      rows.push([label, ...columns.flatMap((c) => ['', '', c.threads ? (c.threads[key] / c.messages).toFixed(1) : '–'])])
    }
  }
  rows.push(['CPU: process, all threads (/proc)', ...columns.flatMap((c) => ['', '', (c.processCpuUs / c.messages).toFixed(1)])])
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  return [header, ...rows].map((cells) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd(),
  )
}

/** The `limit` functions with the most self time (idle left out), as `µs/msg  %  phase  function`. */
export function formatTopFunctions(column: ProfileColumn, limit: number): string[] {
  const busy = busyUs(column.summary)
  return [...column.summary.functions.values()]
    .filter((entry) => entry.phase !== 'idle')
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((entry) => {
      const perMessage = (entry.us / column.messages).toFixed(1).padStart(6)
      const share = (busy > 0 ? (100 * entry.us) / busy : 0).toFixed(1).padStart(5)
      return `${perMessage} µs/msg ${share}%  ${entry.phase.padEnd(31)} ${entry.name}`
    })
}
