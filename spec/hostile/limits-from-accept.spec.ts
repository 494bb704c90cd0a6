// Issue #11, item 2: a connection still owing its PROXY header or its implicit-TLS handshake holds a
// slot of maxConnections and maxConnectionsPerAddress from accept (under the socket's address
// until the PROXY header names the client), so silent connections cannot pile up.

import { expect } from 'chai'
import net from 'node:net'
import { createSelfSignedCertificate } from '../../lib/certificate.js'
import { SmtpServer, type SmtpServerOptions } from '../../lib/server.js'
import { SocketClient } from '../helpers/socket-client.js'

const TOO_MANY = '421 4.7.0 Too many connections, try again later'
const TOO_MANY_FROM = '421 4.7.0 Too many connections from your address, try again later'
const GREETING = '220 mx.test ESMTP smtpwire'

/** A v1 PROXY header naming `source` as the client. */
const proxyLine = (source: string): string => `PROXY TCP4 ${source} 192.0.2.250 40000 25`

/** Resolves with everything the server sent once it closed the connection. */
function closedWith(socket: net.Socket): Promise<string> {
  let received = ''
  socket.setEncoding('latin1')
  socket.on('data', (text: string) => (received += text))
  socket.on('error', () => undefined)
  return new Promise((resolve) => socket.once('close', () => resolve(received)))
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => resolve(socket))
    socket.once('error', reject)
  })
}

describe('hostile: connection limits count from accept (issue #11)', () => {
  let server: SmtpServer | null = null
  const sockets: net.Socket[] = []

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await server?.close()
    server = null
  })

  async function start(options: SmtpServerOptions, listen: Parameters<SmtpServer['listen']>[2]): Promise<number> {
    server = new SmtpServer({ domain: 'mx.test', lingerTimeout: 50, ...options }, () => undefined)
    return (await server.listen(0, '127.0.0.1', listen)).port
  }

  it('refuses the third client with 421 while two silent ones still owe their PROXY header (maxConnections 2)', async () => {
    const port = await start({ maxConnections: 2 }, { proxyProtocol: true, proxyTimeout: 600_000 })
    sockets.push(await connect(port), await connect(port))
    const third = await connect(port)
    sockets.push(third)
    expect(await closedWith(third)).to.equal(`${TOO_MANY}\r\n`)
  })

  it('counts silent PROXY connections under the socket address, then under the client the header names', async () => {
    const port = await start({ maxConnectionsPerAddress: 1 }, { proxyProtocol: true, proxyTimeout: 600_000 })
    const named = await SocketClient.connect(port)
    named.write(proxyLine('192.0.2.1'))
    expect(await named.read()).to.deep.equal([GREETING])
    // 127.0.0.1 holds nothing now (the header moved that slot to 192.0.2.1): one silent
    // connection fits, and it holds the address's only slot.
    const silent = await SocketClient.connect(port)
    const second = await connect(port)
    sockets.push(second)
    expect(await closedWith(second)).to.equal(`${TOO_MANY_FROM}\r\n`)
    silent.write(proxyLine('192.0.2.2'))
    expect(await silent.read()).to.deep.equal([GREETING])
    // A header naming a client already at its limit is refused too.
    const same = await SocketClient.connect(port)
    same.write(proxyLine('192.0.2.1'))
    expect(await same.read()).to.deep.equal([TOO_MANY_FROM])
    for (const client of [named, silent, same]) client.socket.destroy()
  })

  it('closes a client over maxConnections before the handshake while another has not finished its implicit-TLS handshake', async () => {
    const { key, cert } = createSelfSignedCertificate()
    const port = await start({ maxConnections: 1, tls: { key, cert, handshakeTimeout: 600_000 } }, { secure: true })
    const silent = await connect(port)
    sockets.push(silent)
    const second = await connect(port)
    sockets.push(second)
    // No plaintext reply can be read before TLS: the connection is just closed, with nothing sent.
    expect(await closedWith(second)).to.equal('')
    silent.destroy()
  })

  it('gives the slot back when a silent connection leaves', async () => {
    const port = await start({ maxConnections: 1 }, { proxyProtocol: true, proxyTimeout: 600_000 })
    const silent = await connect(port)
    const gone = closedWith(silent)
    silent.end()
    await gone
    // The server may see the close a little after the client: try until the slot is free.
    for (let attempt = 0; ; attempt++) {
      const client = await SocketClient.connect(port)
      client.write(proxyLine('192.0.2.1'))
      const [reply] = await client.read()
      client.socket.destroy()
      if (reply === GREETING) break
      expect(reply).to.equal(TOO_MANY)
      expect(attempt).to.be.below(100)
    }
  })
})
