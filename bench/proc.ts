// Process plumbing for the benchmarks: server child processes, their memory and CPU from /proc
// (Linux), the file-descriptor limit, and a description of the machine.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'

/** How long a child may take to exit after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 15_000

/** A server running in a child process, listening on `port`. */
export interface ServerChild {
  readonly process: ChildProcess
  readonly pid: number
  readonly port: number
  /** What the child wrote to stderr so far. */
  readonly stderr: () => string
  /** Asks the child to collect garbage (needs `--expose-gc` and the IPC channel); resolves when done. */
  gc(): Promise<void>
  /**
   * Asks the child something over IPC (server-child.ts: 'count' → messages taken, 'mark' → its
   * monotonic clock in µs) and resolves with the number it answers (NaN without an IPC channel).
   */
  ask(request: string): Promise<number>
  /**
   * SIGTERM, then waits for the exit; resolves with the exit code. A child still there after
   * STOP_GRACE_MS (a server whose close waits on a connection that never ends) gets SIGKILL.
   */
  stop(): Promise<number | null>
}

/**
 * Spawns `node [nodeFlags] script args` (with `env`, default this process's) and resolves once a stdout line matches `ready` (its
 * first group is the port). Rejects if the child exits first.
 */
export async function spawnServer(
  script: string,
  args: readonly string[],
  ready: RegExp,
  nodeFlags: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerChild> {
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env })
  let errors = ''
  child.stderr?.on('data', (text: Buffer) => (errors += text.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    let printed = ''
    const onData = (text: Buffer): void => {
      printed += text.toString()
      const match = ready.exec(printed)
      if (match) {
        child.stdout?.off('data', onData)
        // Keep draining stdout so a chatty child never blocks on a full pipe.
        child.stdout?.resume()
        resolve(Number(match[1]))
      }
    }
    child.stdout?.on('data', onData)
    void exited.then((code) => reject(new Error(`${script} exited with ${code} before it was ready: ${errors}`)))
  })
  const pid = child.pid ?? 0
  const ask = (request: string): Promise<number> =>
    new Promise<number>((resolve) => {
      if (!child.connected) return resolve(Number.NaN)
      child.once('message', (reply: unknown) => {
        const value = typeof reply === 'object' && reply !== null && 'value' in reply ? Number(reply.value) : Number.NaN
        resolve(value)
      })
      child.send(request)
    })
  return {
    process: child,
    pid,
    port,
    stderr: () => errors,
    gc: async () => void (await ask('gc')),
    ask,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return exited
      child.kill('SIGTERM')
      const deadline = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      try {
        return await exited
      } finally {
        clearTimeout(deadline)
      }
    },
  }
}

/** Memory of a process from /proc/<pid>/status, in octets. */
export interface MemoryStatus {
  /** Resident set size now (VmRSS). */
  readonly rss: number
  /** Peak resident set size (VmHWM), since start or since `resetPeak`. */
  readonly peak: number
}

/** Reads VmRSS and VmHWM of `pid` (default: this process). */
export function memoryStatus(pid: number | 'self' = 'self'): MemoryStatus {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1')
  const field = (name: string): number => {
    const kib = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]
    return kib === undefined ? Number.NaN : Number(kib) * 1024
  }
  return { rss: field('VmRSS'), peak: field('VmHWM') }
}

/** Resets VmHWM of `pid` to its current RSS (Linux ≥ 4.0, own processes). Returns false if it could not. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

let ticksPerSecond = 0

/** User + system CPU time `pid` has used, in milliseconds, from /proc/<pid>/stat. */
export function cpuTimeMs(pid: number): number {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
}

/**
 * glibc's malloc with its heap trimming and dynamic mmap threshold held still, for every process of
 * a comparison. By default glibc gives the top of its heap back to the system when enough of it is
 * free, and the next allocations fault those pages in again: Node's 64 KiB socket read buffers (and
 * a server's own batches) then cost a page fault per 4 KiB or not, depending on when garbage was
 * collected. Measured on 256 MiB: the raw sink's CPU swung 190–1210 ms between runs of the same
 * code with 3 000–43 000 minor faults; with these settings both servers stay under 600 faults.
 * (mmap_threshold 32 MiB is glibc's largest; trim_threshold 256 MiB keeps freed pages for reuse.)
 */
export const PINNED_MALLOC = 'glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432'

/** This process's environment with PINNED_MALLOC added to GLIBC_TUNABLES. */
export function pinnedMallocEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const tunables = env.GLIBC_TUNABLES ? `${env.GLIBC_TUNABLES}:${PINNED_MALLOC}` : PINNED_MALLOC
  return { ...env, GLIBC_TUNABLES: tunables }
}

/** Minor page faults of the process `pid` so far, all its threads (/proc/<pid>/stat). */
export function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7])
}

/**
 * Starts measuring the CPU time of every thread of `pid`; the function it returns gives the
 * milliseconds used since. Read from the kernel's nanosecond counters
 * (/proc/<pid>/task/<tid>/schedstat: time on a CPU, user and system alike), so a run of 100 ms is
 * not rounded to 10 ms ticks as utime+stime are; where schedstat is missing it falls back to
 * cpuTimeMs. A thread that ends in between loses its share; Node's threads live as long as it.
 */
export function cpuMeter(pid: number): () => number {
  const start = schedTimesNs(pid)
  if (start === null) {
    const before = cpuTimeMs(pid)
    return () => cpuTimeMs(pid) - before
  }
  return () => {
    let ns = 0
    for (const [tid, now] of schedTimesNs(pid) ?? new Map<string, number>()) ns += now - (start.get(tid) ?? 0)
    return ns / 1e6
  }
}

/** Nanoseconds on a CPU per thread of `pid`, or null where the kernel does not keep schedstat. */
function schedTimesNs(pid: number): Map<string, number> | null {
  const times = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      times.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || tid === String(pid)) return null
      // Otherwise the thread ended while we looked.
    }
  }
  return times
}

/** CPU time of a process split by thread, in milliseconds. */
export interface ThreadCpu {
  /** The main thread (tid = pid): JavaScript, and the system calls it makes. */
  readonly mainUser: number
  readonly mainSystem: number
  /** Every other thread (V8's GC helpers and compiler, libuv's pool, a profiler), user + system. */
  readonly others: number
}

/** utime and stime of each thread of `pid` from /proc/<pid>/task/<tid>/stat; threads that ended are not counted. */
export function threadCpuMs(pid: number): ThreadCpu {
  cpuTimeMs(pid) // sets ticksPerSecond
  const times = (path: string): [number, number] => {
    const stat = readFileSync(path, 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return [(Number(fields[11]) * 1000) / ticksPerSecond, (Number(fields[12]) * 1000) / ticksPerSecond]
  }
  const [mainUser, mainSystem] = times(`/proc/${pid}/task/${pid}/stat`)
  let others = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (tid === String(pid)) continue
    try {
      const [user, system] = times(`/proc/${pid}/task/${tid}/stat`)
      others += user + system
    } catch {
      // The thread ended while we looked.
    }
  }
  return { mainUser, mainSystem, others }
}

/** Samples the RSS of `pid` every `everyMs`; `stop()` returns the largest seen. */
export function sampleRss(pid: number | 'self', everyMs = 25): { stop: () => number } {
  let largest = 0
  const sample = (): void => {
    try {
      largest = Math.max(largest, pid === 'self' ? process.memoryUsage.rss() : memoryStatus(pid).rss)
    } catch {
      // The process is gone: the samples so far stand.
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return largest
    },
  }
}

/** The soft limit on open files of this process (what `ulimit -n` shows), or Infinity. */
export function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'latin1')
  const match = /^Max open files\s+(\S+)/m.exec(limits)
  return !match || match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1])
}

/** CPU model, cores, Node version: one line for a report. */
export function machine(): string {
  let model = cpus()[0]?.model ?? 'unknown CPU'
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'latin1'))?.[1] ?? model
  } catch {
    // Not Linux: os.cpus() said what it could.
  }
  return `${model}, ${cpus().length} cores, Node ${process.version}, ${process.platform} ${process.arch}`
}

/** Octets as MiB with one decimal. */
export function mib(octets: number): string {
  return (octets / 1024 / 1024).toFixed(1)
}
