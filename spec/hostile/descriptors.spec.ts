// Issue #11, item 1: a refused or ended connection whose client never closes its side must not
// keep its descriptor. Over real sockets: the Maildir sample under a lowered `ulimit -n`, and the
// library in-process, where `close()` resolves only once every socket is gone.

import { expect } from 'chai'
import { readdirSync } from 'node:fs'
import net from 'node:net'
import { SmtpError } from '../../lib/errors.js'
import { SmtpServer } from '../../lib/server.js'
import { SampleServer } from '../helpers/sample-server.js'
import { SocketClient } from '../helpers/socket-client.js'

/** A client that reads what the server sends and its FIN, but never closes its own side. */
class HalfOpenClient {
  received = ''
  ended = false
  private wake: (() => void) | null = null

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1')
    socket.on('data', (text: string) => {
      this.received += text
      this.wake?.()
    })
    socket.on('end', () => {
      this.ended = true
      this.wake?.()
    })
    socket.on('error', () => undefined)
  }

  static connect(port: number): Promise<HalfOpenClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
      socket.once('connect', () => resolve(new HalfOpenClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Resolves once the server sent its reply and ended its side. */
  async refused(): Promise<string> {
    while (!this.ended) await new Promise<void>((resolve) => (this.wake = resolve))
    return this.received
  }
}

/** Waits (polling, with a deadline) until `condition` holds; fails with `what` past the deadline. */
async function eventually(what: () => string, condition: () => boolean, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${deadlineMs} ms: ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('hostile: descriptors of refused clients that never close (issue #11)', () => {
  describe('the Maildir sample under ulimit -n 256', () => {
    let sample: SampleServer | null = null
    const clients: HalfOpenClient[] = []

    afterEach(async () => {
      for (const client of clients.splice(0)) client.socket.destroy()
      await sample?.stop()
      sample = null
    })

    it('frees the descriptors of 300 refused half-open clients within lingerTimeout, while a session keeps working', async () => {
      sample = await SampleServer.startWith({ fdLimit: 256 }, '--max-connections', '1', '--linger-timeout', '1')
      const pid = sample.process.pid as number
      const descriptors = (): number => readdirSync(`/proc/${pid}/fd`).length
      const session = await SocketClient.connect(sample.port)
      expect(await session.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      await session.command('EHLO client.test')
      const baseline = descriptors()
      // 300 refused clients in all, more than the limit: they only fit if each descriptor is freed.
      for (let batch = 0; batch < 6; batch++) {
        const refused = await Promise.all(Array.from({ length: 50 }, () => HalfOpenClient.connect(sample!.port)))
        clients.push(...refused)
        for (const client of refused) expect(await client.refused()).to.equal('421 4.7.0 Too many connections, try again later\r\n')
        await eventually(() => `${descriptors()} descriptors open, ${baseline} before the flood`, () => descriptors() <= baseline)
        expect(await session.command('NOOP')).to.equal('250 2.0.0 OK')
      }
      session.write('MAIL FROM:<a@client.test>', 'RCPT TO:<b@mx.test>', 'DATA')
      expect(await session.read(3)).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK', '354 End data with <CR><LF>.<CR><LF>'])
      session.write('Subject: still here', '', 'after 300 refused clients', '.')
      expect(await session.read()).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(await sample.delivered()).to.have.length(1)
      // Every refusal and every cut-off is in the log at the default level, with the address.
      expect(sample.log.match(/ warn refused 127\.0\.0\.1: Too many connections, try again later\n/g)).to.have.length(300)
      expect(sample.log.match(/ info cutting off 127\.0\.0\.1: still open 1000 ms after the server ended it\n/g)).to.have.length(300)
    })
  })
})

describe('hostile: connections the server ended, in-process (issue #11)', () => {
  let server: SmtpServer | null = null
  const clients: HalfOpenClient[] = []

  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy()
    await server?.close()
    server = null
  })

  // close() resolves only once every socket is closed; closeTimeout is far off, so only the linger
  // can have closed the sockets of clients that never close their side.
  const cases: Array<[string, ConstructorParameters<typeof SmtpServer>[0], (smtp: import('../../lib/protocol.js').SmtpProtocol) => void, string]> = [
    ['over maxConnections', { maxConnections: 1 }, () => undefined, '421 4.7.0 Too many connections, try again later\r\n'],
    [
      'refused by a connect listener with 421',
      {},
      (smtp) => smtp.on('connect', () => Promise.reject(new SmtpError(421, 'Not now', '4.3.2'))),
      '421 Not now\r\n',
    ],
  ]
  for (const [name, options, setup, reply] of cases) {
    it(`closes the sockets of clients ${name} that never close theirs, within lingerTimeout`, async () => {
      server = new SmtpServer({ domain: 'mx.test', closeTimeout: 600_000, lingerTimeout: 50, ...options }, setup)
      const { port } = await server.listen(0, '127.0.0.1')
      const first = await SocketClient.connect(port)
      await first.read()
      const refused = await Promise.all(Array.from({ length: 5 }, () => HalfOpenClient.connect(port)))
      clients.push(...refused)
      for (const client of refused) expect(await client.refused()).to.equal(reply)
      first.socket.destroy()
      await server.close()
      server = null
    })
  }
})
