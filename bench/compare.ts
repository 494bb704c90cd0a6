// The socket benchmark (`npm run bench`, issues 7 and 15): the same load against smtpwire,
// nodemailer's smtp-server, a raw canned-reply Node sink and Postfix's smtp-sink (C), each in its
// own process, one loaded at a time, repeats interleaved across servers (A B C D A B C D …) so a
// burst of machine noise hits them all. Case 1: many small messages, from our pipelining load
// driver and from Postfix's smtp-source (sessions kept with -d, and one connection per message).
// Case 2: one large message through DATA and BDAT. Tables and targets: compare-report.ts.

import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import {
  BDAT_RUNS_PER_REPEAT,
  formatCompare,
  LABELS,
  median,
  spread,
  type CompareResult,
  type LargeResult,
  type ServerName,
  type SmallLoad,
  type SmallLoadSettings,
  type SmallResult,
} from './compare-report.js'
import { makeMessage } from './messages.js'
import { findPostfixTool, POSTFIX_INSTALL, runSmtpSource, startSmtpSink } from './postfix.js'
import { cpuMeter, machine, memoryStatus, mib, minorFaults, pinnedMallocEnv, resetPeak, sampleRss, spawnServer } from './proc.js'
import { SERVER_KINDS, type ServerKind } from './server-child.js'
import { runLoad, runSession } from './smtp-client.js'

const CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url))
// Case 2 warms each server up with a few messages this large: the JIT needs tens of MiB to settle.
const WARM_UP_SIZE = 32 * 1024 * 1024
/**
 * Then this many uncounted messages of the measured size, per mode. After one, the first two
 * measured BDAT runs still cost smtpwire 20–30 ms more than the later ones and smtpwire keep 50–100
 * (medians over 11 bench runs; the raw sink's did not stand out), which moved the median of 15.
 */
const FULL_SIZE_WARM_UPS = 3
const ALL_SERVERS: readonly ServerName[] = [...SERVER_KINDS, 'smtp-sink']
const ALL_LOADS: readonly SmallLoad[] = ['ours', 'source-keep', 'source-per-connection']

/** What to run. */
export interface CompareSettings {
  /** Runs per measurement; the median is reported. */
  readonly repeat: number
  readonly cases: ReadonlySet<'small' | 'large'>
  readonly servers: readonly ServerName[]
  /** Case 1's loads, each with its size. */
  readonly loads: Partial<Record<SmallLoad, SmallLoadSettings>>
  /**
   * Per load, the rounds of messages each server gets before it is measured (JIT warm-up): each
   * round is a whole load, its sessions opened and ended.
   */
  readonly warmUp: Partial<Record<SmallLoad, readonly number[]>>
  /** Case 2: the large message's size in octets. */
  readonly largeSize: number
  /** Paths of Postfix's programs, or null when missing (their loads and server are skipped). */
  readonly smtpSource: string | null
  readonly smtpSink: string | null
  /**
   * 'pinned': every server process runs with glibc's heap trim and mmap threshold held still
   * (proc.ts PINNED_MALLOC), so page-fault luck does not decide its CPU; 'default': as glibc comes.
   */
  readonly malloc: 'pinned' | 'default'
}

/** A server under test, whatever runs it. */
interface Running {
  readonly name: ServerName
  readonly pid: number
  readonly port: number
  /** Messages the server took so far. */
  messages(): Promise<number>
  stderr(): string
  stop(): Promise<void>
}

async function start(name: ServerName, settings: CompareSettings): Promise<Running> {
  const env = settings.malloc === 'pinned' ? pinnedMallocEnv() : process.env
  if (name === 'smtp-sink') {
    if (!settings.smtpSink) throw new Error('smtp-sink is not installed')
    const sink = await startSmtpSink(settings.smtpSink, env)
    return {
      name,
      pid: sink.pid,
      port: sink.port,
      messages: () => Promise.resolve(sink.messages()),
      stderr: () => sink.stderr(),
      stop: () => sink.stop(),
    }
  }
  const kind: ServerKind = name
  const child = await spawnServer(CHILD, [kind], /listening on (\d+)/, [], env)
  return {
    name,
    pid: child.pid,
    port: child.port,
    messages: () => child.ask('count'),
    stderr: () => child.stderr(),
    stop: async () => void (await child.stop()),
  }
}

/** Starts every server (one at a time), runs `body`, and stops them all, whatever happens. */
async function withServers<T>(names: readonly ServerName[], settings: CompareSettings, body: (servers: Running[]) => Promise<T>): Promise<T> {
  const servers: Running[] = []
  try {
    for (const name of names) servers.push(await start(name, settings))
    return await body(servers)
  } finally {
    for (const server of servers) await server.stop()
  }
}

/** One measured run of case 1. */
interface SmallRun {
  /** Messages sent (our driver rounds up to whole sessions). */
  readonly sent: number
  readonly messagesPerSecond: number
  readonly serverCpuUs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failure: string | null
}

/** Sends `messages` messages of `load` to `server`; resolves with messages/s, latencies and what failed. */
async function drive(
  load: SmallLoad,
  server: Running,
  shape: SmallLoadSettings,
  messages: number,
  bodies: readonly Buffer[],
  smtpSource: string | null,
): Promise<Omit<SmallRun, 'serverCpuUs'>> {
  if (load === 'ours') {
    const result = await runLoad({
      host: '127.0.0.1',
      port: server.port,
      sessions: shape.sessions,
      messagesPerSession: Math.ceil(messages / shape.sessions),
      makeMessage: (index) => bodies[index % bodies.length] ?? Buffer.alloc(0),
    })
    const firstError = [...result.errors.keys()][0]
    return {
      sent: result.messages,
      messagesPerSecond: result.messagesPerSecond,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      failure: result.failed > 0 ? `${result.failed} messages refused or lost${firstError ? ` (${firstError})` : ''}` : null,
    }
  }
  if (!smtpSource) throw new Error('smtp-source is not installed')
  const result = await runSmtpSource(smtpSource, {
    port: server.port,
    sessions: shape.sessions,
    size: shape.size,
    messages,
    keep: load === 'source-keep',
  })
  return {
    sent: messages,
    messagesPerSecond: messages / (result.elapsedMs / 1000),
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    failure: result.failure,
  }
}

/** Messages the client thinks it delivered must match what the server counted. */
async function counted(server: Running, before: number, expected: number, failure: string | null): Promise<string | null> {
  if (failure) return failure
  const got = (await server.messages()) - before
  return got === expected ? null : `${LABELS[server.name]} counted ${got} of ${expected} messages`
}

async function smallLoad(
  load: SmallLoad,
  settings: CompareSettings,
  progress: (line: string) => void,
): Promise<SmallResult[]> {
  const shape = settings.loads[load]
  if (!shape) return []
  // smtp-sink only under smtp-source: our driver's pipelined load is the Node servers' case. No
  // smtpwire-keep: the bare CR/LF check is a large-message cost.
  const names = settings.servers.filter((name) => (name !== 'smtp-sink' || load !== 'ours') && name !== 'smtpwire-keep')
  const bodies = load === 'ours' ? Array.from({ length: 1000 }, (_, id) => makeMessage(id, shape.size)) : []
  const warmUp = settings.warmUp[load] ?? []
  return withServers(names, settings, async (servers) => {
    for (const server of servers) {
      for (const round of warmUp) {
        const result = await drive(load, server, shape, round, bodies, settings.smtpSource)
        if (result.failure) progress(`warm-up ${LABELS[server.name]} (${load}): ${result.failure}`)
      }
    }
    const runs = new Map<ServerName, SmallRun[]>(servers.map((server) => [server.name, []]))
    for (let run = 1; run <= settings.repeat; run++) {
      for (const server of servers) {
        // No forced GC here: a full GC with no session open drops the hot path's maps and feedback
        // (5–7 deopts, ~100 recompiles in the next 10 000 messages), so the run would time the JIT.
        const countBefore = await server.messages()
        const cpu = cpuMeter(server.pid)
        const result = await drive(load, server, shape, shape.messages, bodies, settings.smtpSource)
        const serverCpuUs = (cpu() * 1000) / result.sent
        const failure = await counted(server, countBefore, result.sent, result.failure)
        runs.get(server.name)?.push({ ...result, serverCpuUs, failure })
        const shown = failure ? `FAILED: ${failure}` : `${result.messagesPerSecond.toFixed(0)} messages/s, ${serverCpuUs.toFixed(0)} µs CPU/msg`
        progress(`case 1 ${load.padEnd(21)} ${LABELS[server.name].padEnd(13)} run ${run}: ${shown}`)
      }
    }
    return servers.map((server): SmallResult => {
      const mine = runs.get(server.name) ?? []
      const good = mine.filter((r) => r.failure === null)
      return {
        server: server.name,
        load,
        messagesPerSecond: spread(good.map((r) => r.messagesPerSecond)),
        serverCpuUs: spread(good.map((r) => r.serverCpuUs)),
        p50Ms: median(good.map((r) => r.p50Ms)),
        p99Ms: median(good.map((r) => r.p99Ms)),
        failures: mine.flatMap((r) => (r.failure ? [r.failure] : [])),
      }
    })
  })
}

/**
 * Case 2 against one server, once: the large message's throughput, CPU and RSS growth (from the
 * RSS just before it). No forced GC first, as in case 1: a full GC with no session open made the
 * next 256 MiB message cost smtpwire 77–82 ms more CPU (DATA, BDAT; mostly on V8's helper threads,
 * 75 ms against 5 on threads other than the main one) and the raw sink 0–31, even with a 32 MiB
 * message between the GC and the measured one, so the runs timed the GC's aftermath, not the server.
 */
async function largeRun(server: Running, bdat: boolean, message: Buffer) {
  // VmHWM from here on, if the kernel lets us reset it; the samples cover the case where it does not.
  const reset = resetPeak(server.pid)
  const before = memoryStatus(server.pid).rss
  const faultsBefore = minorFaults(server.pid)
  const cpu = cpuMeter(server.pid)
  const sampler = sampleRss(server.pid, 20)
  const { results, error } = await runSession({ host: '127.0.0.1', port: server.port, messages: [message], bdat })
  const sampled = sampler.stop()
  const serverCpuMs = cpu()
  const faults = minorFaults(server.pid) - faultsBefore
  const peak = reset ? Math.max(memoryStatus(server.pid).peak, sampled) : sampled
  const result = results[0]
  return {
    ok: result?.ok ?? false,
    reply: result?.reply ?? error ?? 'no result',
    bytesPerSecond: result ? message.length / (result.latencyMs / 1000) : 0,
    rssGrowth: peak - before,
    serverCpuMs,
    minorFaults: faults,
  }
}

/**
 * smtp-server and smtp-sink do not implement CHUNKING. smtpwire-keep only takes BDAT: there `keep`
 * is smtpwire less the check (the chunk passes through), while DATA under `keep` decodes on another
 * lane (no WebAssembly window, a piece per dot line), slower than with the check.
 */
function modesOf(name: ServerName): Array<'DATA' | 'BDAT'> {
  if (name === 'smtpwire-keep') return ['BDAT']
  return name === 'smtp-server' || name === 'smtp-sink' ? ['DATA'] : ['DATA', 'BDAT']
}

async function largeCase(settings: CompareSettings, progress: (line: string) => void): Promise<LargeResult[]> {
  const message = makeMessage(0, settings.largeSize)
  const warmUp = makeMessage(1, Math.min(settings.largeSize, WARM_UP_SIZE))
  return withServers(settings.servers, settings, async (servers) => {
    type Run = Awaited<ReturnType<typeof largeRun>>
    const runs = new Map<string, Run[]>()
    // One mode after the other, each warmed up just before its runs: a server's runs of one mode
    // must not pay for the garbage its runs of the other left (BDAT right after DATA on the same
    // process, as the runs took turns before, cost smtpwire up to 60 ms more per 256 MiB).
    for (const mode of ['DATA', 'BDAT'] as const) {
      const bdat = mode === 'BDAT'
      const taking = servers.filter((server) => modesOf(server.name).includes(mode))
      for (const server of taking) {
        for (let run = 0; run < 3; run++) await runSession({ host: '127.0.0.1', port: server.port, messages: [warmUp], bdat })
        // And messages of the measured size, not counted: the first after the other mode's runs
        // paid for their garbage (smtpwire BDAT 145 ms against 77–82 for the next ones).
        for (let run = 0; run < FULL_SIZE_WARM_UPS; run++) await runSession({ host: '127.0.0.1', port: server.port, messages: [message], bdat })
      }
      const repeat = bdat ? settings.repeat * BDAT_RUNS_PER_REPEAT : settings.repeat
      for (let run = 1; run <= repeat; run++) {
        for (const server of taking) {
          const result = await largeRun(server, bdat, message)
          const key = `${server.name} ${mode}`
          runs.set(key, [...(runs.get(key) ?? []), result])
          const shown = result.ok ? `${(result.bytesPerSecond / 1e6).toFixed(0)} MB/s` : `failed: ${result.reply}`
          progress(
            `case 2 ${LABELS[server.name].padEnd(13)} ${mode} run ${run}: ${shown}, ${result.serverCpuMs.toFixed(0)} ms CPU, ` +
              `${result.minorFaults} minor faults, RSS +${mib(result.rssGrowth)} MiB`,
          )
        }
      }
    }
    return servers.flatMap((server) =>
      modesOf(server.name).map((mode): LargeResult => {
        const mine = runs.get(`${server.name} ${mode}`) ?? []
        return {
          server: server.name,
          mode,
          bytesPerSecond: spread(mine.filter((r) => r.ok).map((r) => r.bytesPerSecond)),
          rssGrowth: median(mine.map((r) => r.rssGrowth)),
          serverCpuMs: median(mine.map((r) => r.serverCpuMs)),
          minorFaults: median(mine.map((r) => r.minorFaults)),
          failures: mine.filter((r) => !r.ok).map((r) => r.reply),
        }
      }),
    )
  })
}

/** Runs the cases; `progress` gets a line per run. */
export async function runCompare(settings: CompareSettings, progress: (line: string) => void = () => undefined): Promise<CompareResult> {
  const notes: string[] = []
  let loads = { ...settings.loads }
  let servers = [...settings.servers]
  if (!settings.smtpSource && (loads['source-keep'] || loads['source-per-connection'])) {
    notes.push(`smtp-source not found: its loads are skipped (install with: ${POSTFIX_INSTALL})`)
    delete loads['source-keep']
    delete loads['source-per-connection']
  }
  if (!settings.smtpSink && servers.includes('smtp-sink')) {
    notes.push(`smtp-sink not found: that server is skipped (install with: ${POSTFIX_INSTALL})`)
    servers = servers.filter((name) => name !== 'smtp-sink')
  }
  if (!settings.cases.has('small')) loads = {}
  const effective: CompareSettings = { ...settings, loads, servers }
  const small: SmallResult[] = []
  for (const load of ALL_LOADS) small.push(...(await smallLoad(load, effective, progress)))
  const large = settings.cases.has('large') ? await largeCase(effective, progress) : []
  return { machine: machine(), repeat: settings.repeat, malloc: settings.malloc, loads, largeSize: settings.largeSize, notes, small, large }
}

/**
 * The command line: `[--repeat 3] [--case small|large]… [--client ours|smtp-source]…
 * [--server smtpwire|smtp-server|raw|smtp-sink|smtpwire-keep]… [--messages 10000] [--sessions 20] [--size 4096]
 * [--source-messages 20000] [--source-sessions 50] [--source-connection-messages 5000]
 * [--source-mode keep|per-connection]… [--large-mib 256] [--malloc pinned|default]`. Exported so another script can run it;
 * resolves with the exit code (1 when any run failed).
 */
export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      repeat: { type: 'string', default: '3' },
      case: { type: 'string', multiple: true },
      client: { type: 'string', multiple: true },
      server: { type: 'string', multiple: true },
      messages: { type: 'string', default: '10000' },
      size: { type: 'string', default: '4096' },
      sessions: { type: 'string', default: '20' },
      'source-messages': { type: 'string', default: '20000' },
      'source-sessions': { type: 'string', default: '50' },
      'source-connection-messages': { type: 'string', default: '5000' },
      'source-mode': { type: 'string', multiple: true },
      'large-mib': { type: 'string', default: '256' },
      malloc: { type: 'string', default: 'pinned' },
    },
    strict: true,
  })
  type Counted = 'repeat' | 'messages' | 'size' | 'sessions' | 'source-messages' | 'source-sessions' | 'source-connection-messages' | 'large-mib'
  const count = (name: Counted): number => {
    const value = Number(values[name])
    if (Number.isSafeInteger(value) && value > 0) return value
    throw new Error(`--${name} must be a positive whole number, got ${values[name]}`)
  }
  const oneOf = <T extends string>(option: string, given: readonly string[] | undefined, known: readonly T[]): T[] =>
    (given ?? known).map((name) => {
      const found = known.find((k) => k === name)
      if (!found) throw new Error(`--${option} is one of ${known.join(', ')}, got ${name}`)
      return found
    })
  const cases = new Set(oneOf('case', values.case, ['small', 'large'] as const))
  const clients = new Set(oneOf('client', values.client, ['ours', 'smtp-source'] as const))
  const modes = new Set(oneOf('source-mode', values['source-mode'], ['keep', 'per-connection'] as const))
  const servers = oneOf('server', values.server, ALL_SERVERS)
  const [malloc = 'pinned'] = oneOf('malloc', [values.malloc], ['pinned', 'default'] as const)
  const size = count('size')
  const loads: Partial<Record<SmallLoad, SmallLoadSettings>> = {}
  if (clients.has('ours')) loads.ours = { messages: count('messages'), sessions: count('sessions'), size }
  if (clients.has('smtp-source') && modes.has('keep')) {
    loads['source-keep'] = { messages: count('source-messages'), sessions: count('source-sessions'), size }
  }
  if (clients.has('smtp-source') && modes.has('per-connection')) {
    loads['source-per-connection'] = { messages: count('source-connection-messages'), sessions: count('source-sessions'), size }
  }
  const settings: CompareSettings = {
    repeat: count('repeat'),
    cases,
    servers,
    loads,
    // Enough for V8 to finish optimising the hot paths; each load warms up with its own client.
    // Ours in two rounds: its sessions are long, and the first QUITs and EHLOs after thousands of
    // messages deoptimise the hot path (--trace-deopt), which recompiles within the next round.
    // After one round of 1000, --trace-opt showed ~60 compiles in the measured run; after one of
    // 10 000, ~26; after 1000 then 10 000, one.
    warmUp: { ours: [1000, 10_000], 'source-keep': [2000], 'source-per-connection': [1000] },
    largeSize: count('large-mib') * 1024 * 1024,
    smtpSource: findPostfixTool('smtp-source'),
    smtpSink: findPostfixTool('smtp-sink'),
    malloc,
  }
  const started = Date.now()
  const result = await runCompare(settings, (line) => process.stderr.write(`${line}\n`))
  process.stdout.write(formatCompare(result))
  process.stdout.write(`(compare.ts took ${((Date.now() - started) / 1000).toFixed(0)} s)\n`)
  const failed = result.small.some((r) => r.failures.length > 0) || result.large.some((r) => r.failures.length > 0)
  return failed ? 1 : 0
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
      process.exit(1)
    },
  )
}
