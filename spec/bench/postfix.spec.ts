// Postfix's smtp-source and smtp-sink as the benchmark drives them (bench/postfix.ts): the
// arguments, how a failed run is told, smtp-sink's counters, the listening port from /proc, and
// small real runs against the raw sink, smtp-sink, a refusing smtpwire and a server child.

import { expect } from 'chai'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import {
  findPostfixTool,
  listeningPort,
  POSTFIX_INSTALL,
  runSmtpSource,
  sinkMessageCount,
  smtpSourceArgs,
  sourceFailure,
  startSmtpSink,
} from '../../bench/postfix.js'
import { spawnServer } from '../../bench/proc.js'
import { startRawSink } from '../../bench/raw-sink.js'
import { SmtpServer } from '../../lib/index.js'
import { requireTool } from '../helpers/external-tools.js'

const CHILD = fileURLToPath(new URL('../../bench/server-child.js', import.meta.url))

/** The program's path; the spec is pending (failed under SMTPWIRE_REQUIRE_TOOLS=1) without it. */
function need(context: Mocha.Context, name: 'smtp-source' | 'smtp-sink'): string {
  const program = findPostfixTool(name)
  if (!program) {
    requireTool(context, name, POSTFIX_INSTALL)
    throw new Error(`${name} not found`)
  }
  return program
}

describe('bench: Postfix smtp-source and smtp-sink', () => {
  it('passes smtp-source the load, explicit addresses, and -d only to keep sessions', () => {
    const args = smtpSourceArgs({ port: 2525, sessions: 50, size: 4096, messages: 20000, keep: true })
    expect(args).to.deep.equal([
      '-d',
      '-s', '50',
      '-l', '4096',
      '-m', '20000',
      '-M', 'client.test',
      '-f', 'sender@client.test',
      '-t', 'recipient@bench.test',
      '127.0.0.1:2525',
    ])
    expect(smtpSourceArgs({ port: 1, sessions: 1, size: 1, messages: 1, keep: false })).not.to.include('-d')
  })

  it('fails a run that exited non-zero, was killed or wrote anything on stderr', () => {
    expect(sourceFailure(0, null, '')).to.equal(null)
    expect(sourceFailure(1, null, 'smtp-source: fatal: connect: Connection refused\n')).to.equal(
      'smtp-source exited with 1: smtp-source: fatal: connect: Connection refused',
    )
    expect(sourceFailure(0, null, 'smtp-source: warning: x\nmore\n')).to.equal('smtp-source: smtp-source: warning: x')
    expect(sourceFailure(null, 'SIGKILL', '')).to.equal('smtp-source killed by SIGKILL')
  })

  it("reads the message count from smtp-sink's carriage-return counters", () => {
    expect(sinkMessageCount('sess=1 quit=0 mesg=1\rsess=1 quit=1 mesg=2\rsess=2 quit=2 mesg=2\r')).to.equal(2)
    expect(sinkMessageCount('')).to.equal(0)
  })

  it('finds the port a process listens on from /proc', async function () {
    if (process.platform !== 'linux') this.skip()
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const address = server.address()
      expect(listeningPort(process.pid)).to.equal(typeof address === 'object' && address ? address.port : -1)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('sends to the raw sink with sessions kept and with a connection per message; every message arrives', async function () {
    const source = need(this, 'smtp-source')
    const sink = await startRawSink()
    try {
      for (const keep of [true, false]) {
        const before = sink.messages()
        const result = await runSmtpSource(source, { port: sink.port, sessions: 3, size: 2000, messages: 20, keep })
        expect(result.failure).to.equal(null)
        expect(result.stderr).to.equal('')
        expect(sink.messages() - before).to.equal(20)
      }
    } finally {
      await sink.close()
    }
  })

  it('reports a refusing server as a failed run', async function () {
    const source = need(this, 'smtp-source')
    const server = new SmtpServer({ domain: 'mx.test' }, (smtp) => smtp.on('recipient', () => false))
    const { port } = await server.listen(0, '127.0.0.1')
    try {
      const result = await runSmtpSource(source, { port, sessions: 1, size: 100, messages: 2, keep: true })
      expect(result.failure).to.be.a('string').and.match(/^smtp-source/)
    } finally {
      await server.close()
    }
  })

  it('starts smtp-sink on a free port and counts what it took', async function () {
    const source = need(this, 'smtp-source')
    const sinkProgram = need(this, 'smtp-sink')
    const sink = await startSmtpSink(sinkProgram)
    try {
      const result = await runSmtpSource(source, { port: sink.port, sessions: 2, size: 1000, messages: 10, keep: true })
      expect(result.failure).to.equal(null)
      expect(sink.messages()).to.equal(10)
    } finally {
      await sink.stop()
    }
  })

  it("the smtpwire server child counts smtp-source's messages and answers over IPC", async function () {
    const source = need(this, 'smtp-source')
    const child = await spawnServer(CHILD, ['smtpwire'], /listening on (\d+)/, ['--expose-gc'])
    try {
      const result = await runSmtpSource(source, { port: child.port, sessions: 2, size: 1000, messages: 12, keep: false })
      expect(result.failure).to.equal(null)
      expect(await child.ask('count')).to.equal(12)
      await child.gc()
      const mark = await child.ask('mark')
      expect(Number.isSafeInteger(mark) && mark > 0).to.equal(true)
    } finally {
      await child.stop()
    }
  })
})
