// Runs the Maildir sample (`dist/samples/maildir-server.js`) as a child process on a free port,
// the way a user runs `npm start`, and reads what it delivered.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SAMPLE = fileURLToPath(new URL('../../samples/maildir-server.js', import.meta.url))

/** A running sample server. */
export class SampleServer {
  private output = ''
  private waiters: Array<() => void> = []

  private constructor(
    readonly process: ChildProcess,
    /** Every listening port, in the order printed; `port` is the first. */
    readonly ports: number[],
    readonly maildir: string,
    printed: string,
  ) {
    this.output = printed
    process.stdout?.on('data', (text: Buffer) => {
      this.output += text.toString()
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  /** Resolves once the sample printed a line matching `pattern`. */
  async waitFor(pattern: RegExp): Promise<void> {
    while (!pattern.test(this.output)) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  /** The first listening port. */
  get port(): number {
    return this.ports[0] ?? 0
  }

  /**
   * Starts the sample with extra flags; resolves once it printed `listeners` listening lines.
   * `--quiet` is not added, so the log holds what a user would see.
   */
  static async start(...flags: string[]): Promise<SampleServer> {
    return SampleServer.startWith({}, ...flags)
  }

  /**
   * Like `start`, with `fdLimit` the child's descriptor limit (`ulimit -n`, through `sh`, whose
   * `exec` leaves the child's pid that of node itself).
   */
  static async startWith({ fdLimit }: { fdLimit?: number }, ...flags: string[]): Promise<SampleServer> {
    const count = (flag: string): number => flags.filter((f) => f === flag).length
    const listeners = Math.max(1, count('--listen')) + count('--smtps-port') + count('--submission-port')
    const maildir = await mkdtemp(join(tmpdir(), 'smtpwire-maildir-'))
    const argv = [SAMPLE, '--port', '0', '--maildir', maildir, '--domain', 'mx.test', ...flags]
    const child =
      fdLimit === undefined
        ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    let errors = ''
    child.stderr.on('data', (text: Buffer) => (errors += text.toString()))
    let printed = ''
    const ports = await new Promise<number[]>((resolve, reject) => {
      const onData = (text: Buffer): void => {
        printed += text.toString()
        const found = [...printed.matchAll(/smtpwire listening on [^\s]+:(\d+)/g)].map((m) => Number(m[1]))
        if (found.length >= listeners) {
          child.stdout.off('data', onData)
          resolve(found)
        }
      }
      child.stdout.on('data', onData)
      child.once('exit', (code) => reject(new Error(`sample exited with ${code}: ${errors}`)))
    })
    return new SampleServer(child, ports, maildir, printed)
  }

  /** Files delivered into new/, oldest name first, as Buffers. */
  async delivered(): Promise<Buffer[]> {
    const names = (await readdir(join(this.maildir, 'new'))).sort()
    return Promise.all(names.map((name) => readFile(join(this.maildir, 'new', name))))
  }

  /** Files left in tmp/ (there should be none after a session ends). */
  async unfinished(): Promise<string[]> {
    return readdir(join(this.maildir, 'tmp'))
  }

  /** What the sample printed. */
  get log(): string {
    return this.output
  }

  /** Sends a signal without waiting. */
  signal(signal: NodeJS.Signals): void {
    this.process.kill(signal)
  }

  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.resolve(this.process.exitCode)
    return new Promise((resolve) => this.process.once('exit', (code) => resolve(code)))
  }

  /** Sends a signal and waits for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const done = this.process.exitCode !== null || this.process.signalCode !== null
    const exited = done
      ? Promise.resolve(this.process.exitCode)
      : new Promise<number | null>((resolve) => this.process.once('exit', (code) => resolve(code)))
    if (!done) this.process.kill(signal)
    const code = await exited
    await rm(this.maildir, { recursive: true, force: true })
    return code
  }
}

/** Splits a delivered file into its trace headers (Return-Path, Received) and the message. */
export function splitTrace(file: Buffer): { trace: string; message: Buffer } {
  const text = file.toString('latin1')
  const match = /^Return-Path: <[^>]*>\r\nReceived: [^\r]*\r\n(?:\t[^\r]*\r\n)*/.exec(text)
  if (!match) throw new Error(`no trace headers at the start of ${JSON.stringify(text.slice(0, 200))}`)
  return { trace: match[0], message: file.subarray(Buffer.byteLength(match[0], 'latin1')) }
}
