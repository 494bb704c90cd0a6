// The cluster sample as a user runs it: a child process whose workers share one port, real mail
// from nodemailer, a worker killed and replaced, and a graceful stop on SIGTERM.

import { expect } from 'chai'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import nodemailer from 'nodemailer'
import { splitTrace } from '../helpers/sample-server.js'

const SAMPLE = fileURLToPath(new URL('../../samples/cluster.js', import.meta.url))

/** A port nobody listens on right now (cluster workers cannot share port 0 usefully). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

/** The sample running as a child process, with what it printed. */
class ClusterSample {
  output = ''
  private errors = ''
  private waiters: Array<() => void> = []
  readonly exited: Promise<number | null>

  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    public port: number,
    readonly maildir: string,
  ) {
    child.stdout.on('data', (text: Buffer) => {
      this.output += text.toString()
      this.wake()
    })
    child.stderr.on('data', (text: Buffer) => (this.errors += text.toString()))
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    void this.exited.then(() => this.wake())
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake()
  }

  /** Starts the sample on `port` (a free one by default; 0 lets cluster pick, read from its listening line). */
  static async start(workers: number, port?: number): Promise<ClusterSample> {
    port ??= await freePort()
    const maildir = await mkdtemp(join(tmpdir(), 'smtpwire-cluster-'))
    const flags = ['--workers', String(workers), '--port', String(port), '--maildir', maildir, '--domain', 'mx.test']
    const sample = new ClusterSample(spawn(process.execPath, [SAMPLE, ...flags]), port, maildir)
    const shown = port === 0 ? '(\\d+)' : String(port)
    await sample.waitFor(new RegExp(`^smtpwire listening on 127\\.0\\.0\\.1:${shown} \\(${workers} workers\\)$`, 'm'))
    if (port === 0) sample.port = Number(/^smtpwire listening on 127\.0\.0\.1:(\d+) /m.exec(sample.output)?.[1])
    return sample
  }

  /** Resolves once the output matches `pattern`; rejects if the sample exits first. */
  async waitFor(pattern: RegExp): Promise<void> {
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        const status = this.child.exitCode ?? this.child.signalCode
        throw new Error(`the sample exited (${status}) without printing ${pattern}:\n${this.output}${this.errors}`)
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  /** Sends each message over its own connection, one after the other; returns the replies. */
  async send(messages: string[]): Promise<string[]> {
    // No pool: every message gets its own connection, so the cluster spreads them.
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: this.port,
      secure: false,
      ignoreTLS: true,
      pool: false,
    })
    const replies: string[] = []
    try {
      for (const raw of messages) {
        const info = await transport.sendMail({ envelope: { from: 'alice@example.net', to: ['bob@example.org'] }, raw })
        replies.push(info.response)
      }
    } finally {
      transport.close()
    }
    return replies
  }

  /** Delivered files as { pid of the worker that wrote it, message after the trace headers }. */
  async delivered(): Promise<Array<{ pid: number; message: string }>> {
    const names = await readdir(join(this.maildir, 'new'))
    return Promise.all(
      names.map(async (name) => ({
        pid: Number(/P(\d+)Q/.exec(name)?.[1]),
        message: splitTrace(await readFile(join(this.maildir, 'new', name))).message.toString('utf8'),
      })),
    )
  }

  /** Sends SIGTERM and waits for the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    return this.exited
  }

  async cleanUp(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
    await rm(this.maildir, { recursive: true, force: true })
  }
}

/** Message `n`: a leading dot and UTF-8 in the body. */
function message(n: number): string {
  return `From: alice@example.net\r\nSubject: message ${n}\r\n\r\n.leading dot\r\nnumber ${n} über\r\n`
}

describe('samples/cluster', function () {
  this.timeout(30000)
  let sample: ClusterSample | null = null

  afterEach(async () => {
    await sample?.cleanUp()
    sample = null
  })

  it('spreads connections over its workers, stores each message byte for byte, and stops them on SIGTERM', async () => {
    sample = await ClusterSample.start(2)
    const messages = [1, 2, 3, 4].map(message)
    expect(await sample.send(messages)).to.deep.equal(Array(4).fill('250 2.0.0 Message accepted'))
    const files = await sample.delivered()
    expect(files.map((file) => file.message).sort()).to.deep.equal([...messages].sort())
    // Sequential connections go round-robin, so both workers took some.
    expect(new Set(files.map((file) => file.pid)).size).to.equal(2)
    expect(await readdir(join(sample.maildir, 'tmp'))).to.deep.equal([])

    expect(await sample.stop()).to.equal(0)
    expect(sample.output).to.match(/ SIGTERM: stopping 2 workers\n/)
    expect(sample.output).to.match(/ all workers stopped, exiting\n$/)
  })

  it('replaces a worker that dies and keeps serving the port', async () => {
    sample = await ClusterSample.start(2)
    expect(await sample.send([message(1)])).to.deep.equal(['250 2.0.0 Message accepted'])
    const [first] = await sample.delivered()
    const victim = first?.pid ?? 0
    process.kill(victim, 'SIGKILL')
    const replaced = `worker ${victim} exited with signal SIGKILL: starting a replacement\n.* worker \\d+ listening\n`
    await sample.waitFor(new RegExp(replaced))
    expect(await sample.send([message(2), message(3)])).to.deep.equal(Array(2).fill('250 2.0.0 Message accepted'))
    const pids = (await sample.delivered()).map((file) => file.pid)
    expect(pids).to.have.length(3)
    expect(pids.filter((pid) => pid === victim)).to.have.length(1)

    expect(await sample.stop()).to.equal(0)
    expect(sample.output).to.match(/ all workers stopped, exiting\n$/)
  })

  it('serves --port 0 on the port cluster picked, and keeps it when every worker died at once', async () => {
    sample = await ClusterSample.start(1, 0)
    expect(sample.port).to.be.greaterThan(0)
    expect(await sample.send([message(1)])).to.deep.equal(['250 2.0.0 Message accepted'])
    const [first] = await sample.delivered()
    const victim = first?.pid ?? 0
    process.kill(victim, 'SIGKILL')
    await sample.waitFor(new RegExp(`worker ${victim} exited with signal SIGKILL: starting a replacement\n.* worker \\d+ listening\n`))
    // The only worker died, so cluster's shared socket closed: the replacement was told the port.
    expect(await sample.send([message(2)])).to.deep.equal(['250 2.0.0 Message accepted'])
    expect(await sample.stop()).to.equal(0)
  })

  it('exits 1 without replacing workers that cannot listen', async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as net.AddressInfo
    const maildir = await mkdtemp(join(tmpdir(), 'smtpwire-cluster-'))
    try {
      const child = spawn(process.execPath, [SAMPLE, '--workers', '2', '--port', String(port), '--maildir', maildir])
      let output = ''
      child.stdout.on('data', (text: Buffer) => (output += text.toString()))
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)))
      expect(code).to.equal(1)
      expect(output).to.match(/ worker \d+ exited with code 1 before listening\n/)
      expect(output).to.not.include('smtpwire listening')
      expect(output).to.not.include('replacement')
    } finally {
      blocker.close()
      await rm(maildir, { recursive: true, force: true })
    }
  })
})
