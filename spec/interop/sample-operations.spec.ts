import { expect } from 'chai'
import { SampleServer, splitTrace } from '../helpers/sample-server.js'
import { SocketClient } from '../helpers/socket-client.js'

/** A session that got to 354 on the sample. */
async function inData(port: number): Promise<SocketClient> {
  const client = await SocketClient.connect(port)
  await client.read()
  client.write('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
  const replies = await client.read(4)
  expect(replies[3]).to.equal('354 End data with <CR><LF>.<CR><LF>')
  client.write('Subject: in flight', '', 'first line')
  return client
}

describe('the Maildir sample: operations', () => {
  describe('shutdown during DATA', () => {
    it('acknowledges a message that finishes, with the file in new/, then closes', async () => {
      const sample = await SampleServer.start()
      const client = await inData(sample.port)
      sample.signal('SIGTERM')
      await sample.waitFor(/SIGTERM: finishing open sessions/)
      client.write('last line', '.')
      expect(await client.read(2)).to.deep.equal(['250 2.0.0 Message accepted', '421 4.3.2 Service shutting down, closing connection'])
      expect(await sample.exited()).to.equal(0)
      const files = await sample.delivered()
      expect(files).to.have.length(1)
      expect(splitTrace(files[0] as Buffer).message.toString()).to.equal('Subject: in flight\r\n\r\nfirst line\r\nlast line\r\n')
      await sample.stop()
    })

    it('never acknowledges a message still unfinished at the close timeout, and leaves no file', async () => {
      const sample = await SampleServer.start('--close-timeout', '0')
      const client = await inData(sample.port)
      sample.signal('SIGTERM')
      expect(await sample.exited()).to.equal(0)
      await client.ended()
      expect(client.transcript()).to.not.include('250 2.0.0 Message accepted')
      expect(await sample.delivered()).to.deep.equal([])
      expect(await sample.unfinished()).to.deep.equal([])
      await sample.stop()
    })
  })

  it('behind --proxy-protocol, names the proxied client in the Received header', async () => {
    const sample = await SampleServer.start('--proxy-protocol')
    try {
      const client = await SocketClient.connect(sample.port)
      client.socket.write('PROXY TCP4 203.0.113.77 192.0.2.25 44321 25\r\n')
      await client.read()
      client.write('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'hello', '.', 'QUIT')
      await client.read(6)
      const [file] = await sample.delivered()
      expect(splitTrace(file as Buffer).trace).to.match(/^Return-Path: <a@b\.test>\r\nReceived: from client\.test \(unknown \[203\.0\.113\.77\]\)/)
    } finally {
      await sample.stop()
    }
  })

  it('listens on every --listen address, and requires AUTH on --submission-port', async () => {
    const sample = await SampleServer.start('--listen', '127.0.0.1:0', '--listen', '[::1]:0', '--submission-port', '0')
    try {
      // The listening lines come first on stdout, before the AUTH and TLS notices and the library's log.
      await sample.waitFor(/AUTH user smtpwire, password/)
      const lines = sample.log.split('\n').slice(0, 3)
      expect(lines.map((line) => line.replace(/:\d+$/, ''))).to.deep.equal([
        'smtpwire listening on 127.0.0.1',
        'smtpwire listening on [::1]',
        'smtpwire listening on 127.0.0.1',
      ])
      const [v4, v6, submission] = sample.ports as [number, number, number]
      for (const [port, host] of [[v4, '127.0.0.1'], [v6, '::1']] as const) {
        const client = await SocketClient.connect(port, host)
        await client.read()
        await client.command('EHLO c.test')
        expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('250 2.1.0 Sender OK')
        client.socket.destroy()
      }
      const client = await SocketClient.connect(submission)
      await client.read()
      await client.command('EHLO c.test')
      expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('530 5.7.0 Authentication required')
      client.socket.destroy()
    } finally {
      await sample.stop()
    }
  })

  it('passes --max-queued-reply-octets to the server options, which refuse 0', async () => {
    let failure = 'started'
    try {
      await (await SampleServer.start('--max-queued-reply-octets', '0')).stop()
    } catch (error) {
      failure = (error as Error).message
    }
    expect(failure).to.equal('sample exited with 1: option `maxQueuedReplyOctets` must be an integer >= 1, got 0\n')
  })

  it('refuses a connection past --max-connections with 421 4.7.0', async () => {
    const sample = await SampleServer.start('--max-connections', '1')
    try {
      const first = await SocketClient.connect(sample.port)
      await first.read()
      const second = await SocketClient.connect(sample.port)
      expect(await second.read()).to.deep.equal(['421 4.7.0 Too many connections, try again later'])
      first.socket.destroy()
    } finally {
      await sample.stop()
    }
  })
})
