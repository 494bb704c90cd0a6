// Where smtpwire's time per message goes (`npm run bench:profile`, issue 15): the smtpwire server
// child and the raw sink each run under `node --cpu-prof`, take a warm-up and then the measured
// load (Postfix's smtp-source -d by default, our pipelining driver when smtp-source is missing or
// asked for), and the main thread's samples inside the measured stretch are summed per command
// phase (profile-summary.ts), side by side, with the whole process's CPU from /proc next to them
// (which also counts GC helper threads and the profiler, invisible in the profile).
// Informational: one run, and the sampling costs the server some CPU of its own.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { makeMessage } from './messages.js'
import { findPostfixTool, POSTFIX_INSTALL, runSmtpSource } from './postfix.js'
import { cpuTimeMs, machine, pinnedMallocEnv, spawnServer, threadCpuMs } from './proc.js'
import { formatPhases, formatTopFunctions, summarise, type CpuProfile, type ProfileColumn } from './profile-summary.js'
import type { ServerKind } from './server-child.js'
import { runLoad } from './smtp-client.js'

const CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url))

/** The load the profiled servers get. */
export interface ProfileLoad {
  readonly client: 'smtp-source' | 'ours'
  /** smtp-source: -d (sessions kept) or one connection per message. */
  readonly keep: boolean
  readonly messages: number
  /** Rounds of warm-up messages, each a whole load (see compare.ts). */
  readonly warmUp: readonly number[]
  readonly sessions: number
  readonly size: number
}

/** Runs `messages` messages of the load against the server on `port`; throws when any failed. */
async function drive(load: ProfileLoad, port: number, messages: number, smtpSource: string | null): Promise<void> {
  if (load.client === 'smtp-source' && smtpSource) {
    const result = await runSmtpSource(smtpSource, { port, sessions: load.sessions, size: load.size, messages, keep: load.keep })
    if (result.failure) throw new Error(result.failure)
    return
  }
  const bodies = Array.from({ length: 1000 }, (_, id) => makeMessage(id, load.size))
  const result = await runLoad({
    host: '127.0.0.1',
    port,
    sessions: load.sessions,
    messagesPerSession: Math.ceil(messages / load.sessions),
    makeMessage: (index) => bodies[index % bodies.length] ?? Buffer.alloc(0),
  })
  if (result.failed > 0) throw new Error(`${result.failed} messages failed`)
}

/** One server under the profiler: its column for the table. */
async function profileServer(
  kind: ServerKind,
  title: string,
  load: ProfileLoad,
  intervalUs: number,
  smtpSource: string | null,
  keepIn: string | undefined,
): Promise<ProfileColumn> {
  const dir = mkdtempSync(join(keepIn ?? tmpdir(), `${kind}-profile-`))
  try {
    const flags = ['--expose-gc', '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(intervalUs)]
    // glibc pinned as in compare.ts, so its heap trim does not decide the figures (page faults).
    const child = await spawnServer(CHILD, [kind], /listening on (\d+)/, flags, pinnedMallocEnv())
    let from = 0
    let to = 0
    let processCpuUs = 0
    let threads = { mainUser: 0, mainSystem: 0, others: 0 }
    let counted = 0
    try {
      // No forced GC between: it would deoptimise the hot path (see compare.ts).
      for (const round of load.warmUp) await drive(load, child.port, round, smtpSource)
      const before = await child.ask('count')
      from = await child.ask('mark')
      const cpuBefore = cpuTimeMs(child.pid)
      const threadsBefore = threadCpuMs(child.pid)
      await drive(load, child.port, load.messages, smtpSource)
      processCpuUs = (cpuTimeMs(child.pid) - cpuBefore) * 1000
      const threadsAfter = threadCpuMs(child.pid)
      threads = {
        mainUser: (threadsAfter.mainUser - threadsBefore.mainUser) * 1000,
        mainSystem: (threadsAfter.mainSystem - threadsBefore.mainSystem) * 1000,
        others: (threadsAfter.others - threadsBefore.others) * 1000,
      }
      to = await child.ask('mark')
      counted = (await child.ask('count')) - before
    } finally {
      // SIGTERM: the child exits through process.exit, which writes the profile.
      await child.stop()
    }
    const messages = load.client === 'ours' ? Math.ceil(load.messages / load.sessions) * load.sessions : load.messages
    if (counted < messages) throw new Error(`${title} counted ${counted} of ${messages} messages`)
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
    if (!file) throw new Error(`${title}: no .cpuprofile was written in ${dir}`)
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
    // The marks come from process.hrtime, the clock of the profile's timestamps; if they do not
    // fall inside the profile, count the whole of it (warm-up and start-up included) and say so.
    const inside = from >= profile.startTime && to <= profile.endTime && from < to
    const summary = summarise(profile, inside ? { from, to } : undefined)
    return { title: inside ? title : `${title} (whole profile)`, summary, messages, processCpuUs, threads }
  } finally {
    if (keepIn === undefined) rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * `[--client smtp-source|ours] [--per-connection] [--messages N] [--sessions N] [--size N]
 * [--interval µs] [--top N] [--keep DIR]` (--keep: leave the .cpuprofile files in DIR, for DevTools).
 */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      client: { type: 'string' },
      'per-connection': { type: 'boolean', default: false },
      messages: { type: 'string' },
      sessions: { type: 'string' },
      size: { type: 'string', default: '4096' },
      interval: { type: 'string', default: '250' },
      top: { type: 'string', default: '25' },
      keep: { type: 'string' },
    },
    strict: true,
  })
  const smtpSource = findPostfixTool('smtp-source')
  if (values.client !== undefined && values.client !== 'ours' && values.client !== 'smtp-source') {
    throw new Error(`--client is smtp-source or ours, got ${values.client}`)
  }
  let client: 'ours' | 'smtp-source' = values.client ?? 'smtp-source'
  if (client === 'smtp-source' && !smtpSource) {
    process.stdout.write(`smtp-source not found: profiling under our load driver instead (install with: ${POSTFIX_INSTALL})\n`)
    client = 'ours'
  }
  const number = (value: string | undefined, fallback: number): number => {
    const parsed = Number(value ?? fallback)
    if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new Error(`expected a positive whole number, got ${value}`)
    return parsed
  }
  const keep = !values['per-connection']
  const load: ProfileLoad = {
    client,
    keep,
    messages: number(values.messages, client === 'ours' ? 10000 : keep ? 20000 : 5000),
    warmUp: client === 'ours' ? [1000, 10_000] : keep ? [2000] : [1000],
    sessions: number(values.sessions, client === 'ours' ? 20 : 50),
    size: number(values.size, 4096),
  }
  const intervalUs = number(values.interval, 250)
  const describe =
    client === 'ours'
      ? `our pipelining load driver, ${load.sessions} sessions`
      : `smtp-source${keep ? ' -d (sessions kept)' : ' (one connection per message)'}, ${load.sessions} sessions`
  const columns: ProfileColumn[] = []
  for (const [kind, title] of [['smtpwire', 'smtpwire'], ['raw', 'raw sink']] as const) {
    process.stderr.write(`profiling ${title}…\n`)
    columns.push(await profileServer(kind, title, load, intervalUs, smtpSource, values.keep))
  }
  const out = [
    `machine: ${machine()}`,
    'glibc malloc pinned for both servers (GLIBC_TUNABLES trim and mmap thresholds), as in npm run bench',
    `load: ${describe}, ${load.messages} messages of ${load.size} octets after ${load.warmUp.join(' + ')} to warm up; --cpu-prof-interval ${intervalUs} µs`,
    'main-thread CPU per command phase: each sample goes to the first frame, leaf upwards, that names a phase',
    '(a native socket write at the leaf: the kernel write; else the nearest smtpwire lib/ frame; else Node stream code: reading)',
    '',
    ...formatPhases(columns),
    '',
    'sampled: the profile samples the main thread by wall clock, so a sample inside a system call (writeBuffer)',
    'counts the time the call took, waits for the CPU included (the woken client runs first on 2 cores).',
    "CPU≈: the main thread's user CPU from /proc spread over the JavaScript phases by their samples; the",
    "syscalls' CPU is the system row. The process row is what compare.ts reports (all threads; here with",
    "the profiler's thread and sampling cost in it).",
  ]
  const [smtpwire] = columns
  if (smtpwire) out.push('', `smtpwire: the top ${values.top} functions by self time`, ...formatTopFunctions(smtpwire, number(values.top, 25)))
  process.stdout.write(`${out.join('\n')}\n`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
      process.exit(1)
    },
  )
}
