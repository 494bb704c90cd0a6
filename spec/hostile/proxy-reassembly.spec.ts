// Issue #11, item 7: a PROXY header that arrives a byte at a time still parses, and is joined a
// bounded number of times (it was joined again on every chunk: quadratic in its length).

import { expect } from 'chai'
import net from 'node:net'
import { PassThrough } from 'node:stream'
import sinon from 'sinon'
import { readProxyHeader } from '../../lib/proxy.js'
import { SmtpServer } from '../../lib/server.js'
import { SocketClient } from '../helpers/socket-client.js'

const V1 = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.250 40000 25\r\n', 'latin1')

/** A v2 PROXY TCP4 header from 192.0.2.1:40000 with `tlvBytes` octets of TLVs (type 0xE0, custom). */
function v2Header(tlvBytes: number): Buffer {
  const signature = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1')
  const addresses = Buffer.from([192, 0, 2, 1, 192, 0, 2, 250, 0x9c, 0x40, 0, 25])
  const tlv = Buffer.alloc(tlvBytes)
  if (tlvBytes > 0) {
    tlv[0] = 0xe0
    tlv.writeUInt16BE(tlvBytes - 3, 1)
    tlv.fill(0x0a, 3) // line feeds inside the header must not matter to a v2 read
  }
  const fixed = Buffer.from([0x21, 0x11, 0, 0])
  fixed.writeUInt16BE(addresses.length + tlv.length, 2)
  return Buffer.concat([signature, fixed, addresses, tlv])
}

describe('hostile: PROXY header one byte at a time (issue #11)', () => {
  afterEach(() => sinon.restore())

  for (const [name, header] of [
    ['v1', V1],
    ['v2 with 4 KiB of TLVs', v2Header(4096)],
  ] as const) {
    it(`reads a ${name} header written a byte per write, joining it at most 3 times`, async () => {
      const stream = new PassThrough()
      const read = readProxyHeader(stream, 600_000)
      const concat = sinon.spy(Buffer, 'concat')
      for (const byte of Buffer.concat([header, Buffer.from('EHLO')])) {
        stream.write(Buffer.from([byte]))
        await new Promise<void>((resolve) => setImmediate(resolve)) // each byte its own 'data' event
      }
      const { header: parsed, rest } = await read
      concat.restore()
      expect(parsed.source).to.deep.equal({ address: '192.0.2.1', port: 40000 })
      expect(rest.toString('latin1')).to.equal('')
      expect(concat.callCount).to.be.at.most(3)
    })
  }

  it('serves a session whose client sends its PROXY header a byte per packet over a socket', async () => {
    let remote = ''
    const server = new SmtpServer({ domain: 'mx.test' }, (smtp) => smtp.on('ehlo', ({ session }) => void (remote = session.remoteAddress)))
    const { port } = await server.listen(0, '127.0.0.1', { proxyProtocol: true })
    const client = await SocketClient.connect(port)
    const socket: net.Socket = client.socket
    for (const byte of V1) {
      await new Promise<void>((resolve) => socket.write(Buffer.from([byte]), () => resolve()))
    }
    expect(await client.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    await client.command('EHLO c.test')
    expect(remote).to.equal('192.0.2.1')
    client.socket.destroy()
    await server.close()
  })
})
