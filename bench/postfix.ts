// Postfix's test programs as a load generator and as a server for the benchmarks (issue 15):
// `smtp-source`, the C client the field benchmarks SMTP servers with (no pipelining; with -d it
// keeps each session for the next message, without it one connection per message), and
// `smtp-sink`, Postfix's C discard server. Debian ships both in the `postfix` package; the mail
// daemon need not run. Nothing here needs root but smtp-sink, which must be told a user when it is.

import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** The line that installs both programs. */
export const POSTFIX_INSTALL = 'apt-get install postfix'

/** Where Debian puts them, whether or not /usr/sbin is on the PATH of the user running the bench. */
const EXTRA_DIRECTORIES = ['/usr/sbin', '/usr/local/sbin', '/sbin']

/** The full path of `smtp-source` or `smtp-sink`, or null when it is not installed. */
export function findPostfixTool(name: 'smtp-source' | 'smtp-sink'): string | null {
  const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')
  for (const dir of [...path, ...EXTRA_DIRECTORIES]) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not here.
    }
  }
  return null
}

/** One smtp-source run. */
export interface SourceOptions {
  readonly host?: string
  readonly port: number
  /** Sessions in parallel (-s). */
  readonly sessions: number
  /** Payload octets per message, headers not included (-l). */
  readonly size: number
  /** Messages in all (-m). */
  readonly messages: number
  /** -d: keep each session for the next message; false: one connection per message (smtp-source's default). */
  readonly keep: boolean
}

/** The arguments smtp-source gets for `options`: explicit addresses, so the machine's hostname never matters. */
export function smtpSourceArgs(options: SourceOptions): string[] {
  return [
    ...(options.keep ? ['-d'] : []),
    '-s', String(options.sessions),
    '-l', String(options.size),
    '-m', String(options.messages),
    '-M', 'client.test',
    '-f', 'sender@client.test',
    '-t', 'recipient@bench.test',
    `${options.host ?? '127.0.0.1'}:${options.port}`,
  ]
}

/** What one smtp-source run did. */
export interface SourceResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Everything it printed on stderr: warnings and fatal errors (it prints nothing else there). */
  readonly stderr: string
  /** From spawning it until it exited. */
  readonly elapsedMs: number
  /** Null when it succeeded: exit status 0 and nothing on stderr. */
  readonly failure: string | null
}

/** Runs smtp-source to its end. It stops at the first unexpected reply (no -A), so exit 0 means every message got a 2xx. */
export function runSmtpSource(program: string, options: SourceOptions): Promise<SourceResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(program, smtpSourceArgs(options), { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (text: string) => (stderr += text))
    child.once('error', reject)
    child.once('close', (code, signal) => {
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
      resolve({ code, signal, stderr, elapsedMs, failure: sourceFailure(code, signal, stderr) })
    })
  })
}

/** Why a run failed, or null: a non-zero exit, a signal, or any line on stderr. */
export function sourceFailure(code: number | null, signal: string | null, stderr: string): string | null {
  const firstLine = stderr.trim().split('\n')[0] ?? ''
  if (signal !== null) return `smtp-source killed by ${signal}${firstLine ? `: ${firstLine}` : ''}`
  if (code !== 0) return `smtp-source exited with ${code}${firstLine ? `: ${firstLine}` : ''}`
  if (firstLine) return `smtp-source: ${firstLine}`
  return null
}

/** The last `mesg=N` of smtp-sink's -c counters (it rewrites one line with CR), or 0. */
export function sinkMessageCount(counters: string): number {
  let count = 0
  for (const match of counters.matchAll(/mesg=(\d+)/g)) count = Number(match[1])
  return count
}

/** The TCP port `pid` listens on, from /proc (Linux): its socket inodes matched against /proc/net/tcp{,6}. */
export function listeningPort(pid: number): number | null {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match?.[1]) inodes.add(match[1])
    } catch {
      // Closed while we looked.
    }
  }
  for (const table of ['tcp', 'tcp6']) {
    let text = ''
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'latin1')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, the inode is the 10th field.
      if (fields[3] === '0A' && inodes.has(fields[9] ?? '')) {
        const port = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16)
        if (Number.isInteger(port)) return port
      }
    }
  }
  return null
}

/** A running smtp-sink. */
export interface SmtpSink {
  readonly pid: number
  readonly port: number
  /** Messages it took so far (from its -c counters). */
  messages(): number
  /** What it printed on stderr so far. */
  stderr(): string
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>
}

/**
 * Starts `smtp-sink -c [-u nobody] 127.0.0.1:0 256` (with `env`, default this process's): a free port picked by the kernel, found
 * from /proc once it listens. Its counters go to a file (one small write per message, as cheap
 * as a write gets), read when asked.
 */
export async function startSmtpSink(program: string, env: NodeJS.ProcessEnv = process.env): Promise<SmtpSink> {
  const dir = mkdtempSync(join(tmpdir(), 'smtp-sink-'))
  const countersPath = join(dir, 'counters')
  const out = openSync(countersPath, 'w')
  const asRoot = process.getuid?.() === 0
  const args = ['-c', ...(asRoot ? ['-u', 'nobody'] : []), '127.0.0.1:0', '256']
  const child = spawn(program, args, { stdio: ['ignore', out, 'pipe'], env })
  closeSync(out)
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => (stderr += text))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const cleanUp = (): void => rmSync(dir, { recursive: true, force: true })
  const pid = child.pid
  if (pid === undefined) {
    cleanUp()
    throw new Error(`${program} did not start: ${stderr}`)
  }
  // It binds before it drops privileges and serves; poll /proc until the socket listens.
  let port: number | null = null
  for (let attempt = 0; attempt < 200 && port === null; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) break
    try {
      port = listeningPort(pid)
    } catch {
      port = null
    }
    // Polling a process we do not control: a short wait between looks, not a synchronisation.
    if (port === null) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  if (port === null) {
    child.kill('SIGTERM')
    await exited
    cleanUp()
    throw new Error(`${program} ${args.join(' ')} did not listen: ${stderr || `exit ${child.exitCode}`}`)
  }
  return {
    pid,
    port,
    messages: () => sinkMessageCount(readFileSync(countersPath, 'latin1')),
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      cleanUp()
    },
  }
}
