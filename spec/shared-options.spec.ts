// What each new SmtpProtocol resolves its options with (lib/shared-options.ts): equal options given
// again share one frozen ResolvedOptions, so what is kept per options object is built once.

import { expect } from 'chai'
import { SmtpwireError } from '../lib/errors.js'
import { ProcessingGate } from '../lib/gate.js'
import { SILENT } from '../lib/logger.js'
import { resolveOptions, type SmtpOptions } from '../lib/options.js'
import { SmtpProtocol } from '../lib/protocol.js'
import { sharedOptions } from '../lib/shared-options.js'

describe('sharedOptions', () => {
  it('is the same object for the same options given again: values equal, arrays by content, objects by identity', () => {
    const logger = { ...SILENT }
    const first = sharedOptions({ domain: 'mx.test', trustedProxies: ['10.0.0.0/8'], logger })
    expect(first).to.deep.equal(resolveOptions({ domain: 'mx.test', trustedProxies: ['10.0.0.0/8'], logger }))
    expect(sharedOptions({ domain: 'mx.test', trustedProxies: ['10.0.0.0/8'], logger, chunkSize: undefined })).to.equal(first)
    expect(sharedOptions({ domain: 'mx.test', trustedProxies: ['10.0.0.0/8'], logger: { ...SILENT } })).to.not.equal(first)
    expect(sharedOptions({ domain: 'mx.test', trustedProxies: ['10.0.0.0/16'], logger }).trustedProxies).to.deep.equal(['10.0.0.0/16'])
    expect(sharedOptions({ domain: 'mx.test', trustedProxies: ['10.0.0.0/8'], logger, lmtp: true }).lmtp).to.equal(true)
    // What resolveOptions returned is used as it is.
    const resolved = resolveOptions({ domain: 'mx.test' })
    expect(sharedOptions(resolved)).to.equal(resolved)
  })

  it('tells values apart by type, not only by text, and keeps nothing for bad options', () => {
    expect(sharedOptions({ listenerTimeout: Infinity }).listenerTimeout).to.equal(Infinity)
    expect(() => sharedOptions({ listenerTimeout: null as unknown as number })).to.throw(SmtpwireError)
    expect(sharedOptions({ maxErrors: 3 }).maxErrors).to.equal(3)
    expect(() => sharedOptions({ maxErrors: '3' as unknown as number })).to.throw(SmtpwireError)
    expect(() => sharedOptions({ maxErrors: '3' as unknown as number })).to.throw(SmtpwireError)
  })

  it("keeps each server's processing gate its own", () => {
    const [a, b] = [new ProcessingGate(1), new ProcessingGate(1)]
    expect(sharedOptions({ gate: a } as SmtpOptions).gate).to.equal(a)
    expect(sharedOptions({ gate: b } as SmtpOptions).gate).to.equal(b)
  })

  it('is what a new SmtpProtocol holds: two made with equal options objects share their options', () => {
    const one = new SmtpProtocol({ domain: 'mx.test', maxRecipients: 7 })
    const two = new SmtpProtocol({ domain: 'mx.test', maxRecipients: 7 })
    expect(two.options).to.equal(one.options)
    expect(new SmtpProtocol({ domain: 'mx.test', maxRecipients: 8 }).options).to.not.equal(one.options)
  })

  it('holds at most 64 and starts again when full', () => {
    const first = sharedOptions({ domain: 'first.test' })
    for (let i = 0; i < 64; i++) sharedOptions({ domain: `d${i}.test` })
    expect(sharedOptions({ domain: 'first.test' })).to.not.equal(first)
    expect(sharedOptions({ domain: 'first.test' })).to.deep.equal(first)
  })
})
