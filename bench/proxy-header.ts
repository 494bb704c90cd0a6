// CPU cost of reading a PROXY v2 header that arrives one byte per chunk (issue #11: it used to be
// joined again on every chunk, quadratic in its length). Prints figures; not a test.

import { PassThrough } from 'node:stream'
import { readProxyHeader } from '../lib/proxy.js'

/** A v2 PROXY TCP4 header with `tlvBytes` octets of one custom TLV. */
function v2Header(tlvBytes: number): Buffer {
  const signature = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1')
  const addresses = Buffer.from([192, 0, 2, 1, 192, 0, 2, 250, 0x9c, 0x40, 0, 25])
  const tlv = Buffer.alloc(tlvBytes)
  tlv[0] = 0xe0
  tlv.writeUInt16BE(tlvBytes - 3, 1)
  const fixed = Buffer.from([0x21, 0x11, 0, 0])
  fixed.writeUInt16BE(addresses.length + tlv.length, 2)
  return Buffer.concat([signature, fixed, addresses, tlv])
}

for (const size of [1024, 8192, 32768, 65000]) {
  const header = v2Header(size)
  const stream = new PassThrough()
  const before = process.cpuUsage()
  const read = readProxyHeader(stream, 600_000)
  for (let at = 0; at < header.length; at++) stream.emit('data', header.subarray(at, at + 1))
  await read
  const used = process.cpuUsage(before)
  console.log(`v2 header of ${header.length} octets, one per chunk: ${((used.user + used.system) / 1000).toFixed(1)} ms CPU`)
}
