// The fuzz script (bench/fuzz.ts): its case runner finds nothing in seeded cases, and each of its
// detectors does fire, on protocols broken on purpose (subclasses of SmtpProtocol) and crafted output.

import { expect } from 'chai'
import {
  caseSeed,
  checkAmplification,
  checkReplies,
  growthBound,
  planCase,
  runCase,
  type CaseResult,
  type FailureKind,
} from '../bench/fuzz.js'
import {
  SmtpProtocol,
  SmtpwireError,
  type Listener,
  type SessionFacts,
  type SmtpEvents,
  type SmtpOptions,
  type SmtpTransport,
} from '../lib/index.js'
import { specSeed } from './helpers/random.js'

type Make = (options: SmtpOptions) => SmtpProtocol

function kinds(result: CaseResult): FailureKind[] {
  return [...new Set(result.failures.map((failure) => failure.kind))]
}

function report(result: CaseResult): string {
  return result.failures.map((failure) => `${failure.kind} seed=${result.seed}: ${failure.detail}`).join('\n')
}

/** Wraps the transport the fuzzer opens the protocol with. */
function wrapping(wrap: (transport: SmtpTransport) => SmtpTransport): Make {
  return (options) =>
    new (class extends SmtpProtocol {
      override open(transport: SmtpTransport, facts?: SessionFacts): this {
        return super.open(wrap(transport), facts)
      }
    })(options)
}

function forward(transport: SmtpTransport, overrides: Partial<SmtpTransport>): SmtpTransport {
  return {
    write: (chunk) => transport.write(chunk),
    end: () => transport.end(),
    pause: () => transport.pause?.(),
    resume: () => transport.resume?.(),
    ...(transport.upgrade ? { upgrade: transport.upgrade.bind(transport) } : {}),
    ...overrides,
  }
}

describe('fuzz script', () => {
  it('finds nothing in 200 seeded cases', async () => {
    const seed = specSeed()
    const found: string[] = []
    for (let i = 0; i < 200; i++) {
      const result = await runCase(caseSeed(seed, i))
      if (result.failures.length > 0) found.push(report(result))
    }
    const replay = 'replay one case: node dist/bench/fuzz.js --seed <seed> --cases 1'
    expect(found, `run seed ${seed} (SMTPWIRE_SEED=${seed}; ${replay})`).to.deep.equal([])
  })

  it('gives case 0 the run seed, so any case replays by its own seed', () => {
    expect(caseSeed(12345, 0)).to.equal(12345)
    expect(caseSeed(12345, 1)).to.not.equal(caseSeed(12345, 2))
    expect(planCase(99).input).to.deep.equal(planCase(99).input)
  })

  describe('detectors', () => {
    // A small case that ends with end(), has several pieces, holds some input, and is clean with the real
    // protocol: whatever a broken protocol is caught at below is the breakage, not the case.
    let seed = -1
    before(async () => {
      for (let candidate = 1; candidate < 500 && seed < 0; candidate++) {
        const plan = planCase(candidate)
        const plain = plan.interruptAt < 0 && plan.reentryRate === 0 && !plan.impatient
        if (!plain || plan.ending !== 'end' || plan.pieces.length < 3 || plan.input.length >= 5000) continue
        const result = await runCase(candidate)
        if (result.failures.length === 0 && result.peakBuffered > 1 && result.outputBytes > 0) seed = candidate
      }
      expect(seed, 'a clean case to break').to.be.greaterThan(0)
    })

    const expectKind = async (make: Make, kind: FailureKind, detail: RegExp): Promise<void> => {
      const result = await runCase(seed, { createProtocol: make })
      expect(kinds(result), report(result)).to.include(kind)
      const matching = result.failures.filter((failure) => failure.kind === kind && detail.test(failure.detail))
      expect(matching, report(result)).to.not.be.empty
    }

    it('crash: an exception out of feed()', async () => {
      class Throwing extends SmtpProtocol {
        override feed(): boolean {
          throw new Error('planted')
        }
      }
      await expectKind((options) => new Throwing(options), 'crash', /feed\(\) of piece 0 threw: Error: planted/)
    })

    it('crash: an SMTPWIRE_ERR_INTERNAL error event', async () => {
      class Internal extends SmtpProtocol {
        private report: Listener<'error'> | null = null
        override on<K extends keyof SmtpEvents>(event: K, listener: Listener<K>): this {
          if (event === 'error') this.report = listener as unknown as Listener<'error'>
          return super.on(event, listener)
        }
        override feed(chunk: Buffer): boolean {
          const error = new SmtpwireError('SMTPWIRE_ERR_INTERNAL', 'planted')
          void this.report?.({ session: this.session, error, event: null })
          return super.feed(chunk)
        }
      }
      await expectKind((options) => new Internal(options), 'crash', /internal error .*planted/)
    })

    it('crash: an unhandled rejection and an uncaught exception', async () => {
      class Careless extends SmtpProtocol {
        override feed(chunk: Buffer): boolean {
          void Promise.reject(new Error('planted rejection'))
          setImmediate(() => {
            throw new Error('planted exception')
          })
          return super.feed(chunk)
        }
      }
      await expectKind((options) => new Careless(options), 'crash', /unhandled rejection: Error: planted rejection/)
      await expectKind((options) => new Careless(options), 'crash', /uncaught exception: Error: planted exception/)
    })

    it('hang: a session that never closes', async () => {
      class Immortal extends SmtpProtocol {
        override get closed(): boolean {
          return false
        }
      }
      await expectKind((options) => new Immortal(options), 'hang', /not closed 10000 turns after end\(\)/)
    })

    it('hang: a listener that never settles', async () => {
      class Stuck extends SmtpProtocol {
        constructor(options: SmtpOptions) {
          super(options)
          this.on('connect', () => new Promise<void>(() => {}))
        }
      }
      await expectKind((options) => new Stuck(options), 'hang', /input stayed paused|neither closed nor idle/)
    })

    it('growth: bufferedInput past the bound, after close, and past --max-buffered', async () => {
      class Hoarding extends SmtpProtocol {
        override get bufferedInput(): number {
          return super.bufferedInput + 50_000_000
        }
      }
      await expectKind((options) => new Hoarding(options), 'growth', /bufferedInput \d+ > bound/)
      class Retaining extends SmtpProtocol {
        override get bufferedInput(): number {
          return this.closed ? 5 : super.bufferedInput
        }
      }
      await expectKind((options) => new Retaining(options), 'growth', /bufferedInput is 5 after close/)
      const capped = await runCase(seed, { maxBuffered: 1 })
      expect(kinds(capped), report(capped)).to.deep.equal(['growth'])
    })

    it('output: a line that is not a reply', async () => {
      let greeted = false
      const make = wrapping((transport) =>
        forward(transport, {
          write: (chunk) => {
            const bytes = greeted ? chunk : Buffer.concat([Buffer.from('hello\r\n'), chunk])
            greeted = true
            return transport.write(bytes)
          },
        }),
      )
      await expectKind(make, 'output', /line 0 is not a reply: "hello"/)
    })

    it('output: a write after end()', async () => {
      const make = wrapping((transport) =>
        forward(transport, {
          end: () => {
            transport.end()
            transport.write(Buffer.from('250 late\r\n'))
          },
        }),
      )
      await expectKind(make, 'output', /write after end\(\)/)
    })

    it('amplification: kilobytes of replies per line', async () => {
      // One well-formed 3 MB reply: more than 400 octets per line of any input under 5000 octets.
      let padded = false
      const make = wrapping((transport) =>
        forward(transport, {
          write: (chunk) => {
            const bytes = padded ? chunk : Buffer.concat([chunk, Buffer.from(`250 ${'x'.repeat(3_000_000)}\r\n`)])
            padded = true
            return transport.write(bytes)
          },
        }),
      )
      await expectKind(make, 'amplification', /reply octets for/)
    })

    it('lifecycle: the transport ended twice, resume without pause', async () => {
      const make = wrapping((transport) =>
        forward(transport, {
          end: () => {
            transport.end()
            transport.end()
          },
        }),
      )
      await expectKind(make, 'lifecycle', /transport.end\(\) called 2 times/)
      const resuming = wrapping((transport) =>
        forward(transport, {
          write: (chunk) => {
            transport.resume?.()
            return transport.write(chunk)
          },
        }),
      )
      await expectKind(resuming, 'lifecycle', /resume\(\) called without pause\(\)/)
    })

    it('checks reply syntax, amplification and the bound directly', () => {
      expect(checkReplies(Buffer.from('220 mx ready\r\n250-mx\r\n250 SIZE\r\n250\r\n'))).to.equal(null)
      expect(checkReplies(Buffer.from('250 ok'))).to.match(/ends inside a line/)
      expect(checkReplies(Buffer.from('250-a\r\n251 b\r\n'))).to.match(/changes the code/)
      expect(checkReplies(Buffer.from('250-a\r\n'))).to.match(/continuation/)
      expect(checkReplies(Buffer.from('250 a\rb\r\n'))).to.match(/bare CR or LF/)
      expect(checkReplies(Buffer.from('25 short\r\n'))).to.match(/not a reply/)
      expect(checkReplies(Buffer.from('199 low\r\n'))).to.match(/not a reply/)
      expect(checkAmplification(10, 1, 1210)).to.equal(null)
      expect(checkAmplification(10, 1, 1211)).to.match(/1211 reply octets/)
      const options = new SmtpProtocol({ maxLineLength: 512, chunkSize: 100, maxMessageSize: 1000 }).options
      expect(growthBound(options, 0, 0)).to.equal(12288 + 100 + 1000)
      expect(growthBound(options, 10, 0)).to.equal(30 + 12288 + 100 + 1000)
      const unlimited = new SmtpProtocol({
        maxLineLength: 20_000,
        chunkSize: 1,
        maxMessageSize: 0,
        addReceivedHeader: true,
      }).options
      expect(growthBound(unlimited, 0, 500)).to.equal(21_058 + 1 + 1000 + 1024 + 2 * 21_058)
    })
  })
})
