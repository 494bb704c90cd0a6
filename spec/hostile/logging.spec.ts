// Issue #11, "Also": nothing the attacks do is invisible to an operator. The Maildir sample, at its
// default log level, prints each refusal and drop with the client's address.

import { expect } from 'chai'
import net from 'node:net'
import { SampleServer } from '../helpers/sample-server.js'
import { SocketClient } from '../helpers/socket-client.js'

/** Sends `bytes` and resolves once the server closed the connection. */
function sendAndWaitForClose(port: number, bytes: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(bytes))
    socket.on('data', () => undefined)
    socket.on('error', reject)
    socket.once('close', () => resolve())
  })
}

describe('hostile: the sample logs every refusal and drop with the address (issue #11)', () => {
  let sample: SampleServer | null = null

  afterEach(async () => {
    await sample?.stop()
    sample = null
  })

  it('logs a bad PROXY header, a client over the per-address limit, and a TLS error after STARTTLS', async () => {
    sample = await SampleServer.start('--proxy-protocol', '--max-connections-per-address', '1', '--linger-timeout', '1')
    await sendAndWaitForClose(sample.port, 'EHLO not-a-proxy.test\r\n')
    await sample.waitFor(/ warn connection from 127\.0\.0\.1 dropped: invalid PROXY header/)
    const held = await SocketClient.connect(sample.port)
    held.write('PROXY TCP4 192.0.2.7 192.0.2.250 40000 25')
    expect(await held.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    const again = await SocketClient.connect(sample.port)
    again.write('PROXY TCP4 192.0.2.7 192.0.2.250 40001 25')
    expect(await again.read()).to.deep.equal(['421 4.7.0 Too many connections from your address, try again later'])
    await sample.waitFor(/ warn refused 192\.0\.2\.7: Too many connections from your address, try again later\n/)
    // Plaintext where TLS records should be: the connection is closed, and the log says why and for whom.
    await held.command('EHLO c.test')
    expect(await held.command('STARTTLS')).to.equal('220 2.0.0 Ready to start TLS')
    held.socket.write('\x16\x03\x01\x00\x05hello') // a TLS record header, then nonsense
    await held.ended()
    await sample.waitFor(/ info \[\w+\] closed 192\.0\.2\.7 \((error|peer)\)/)
    again.socket.destroy()
  })
})
