import { expect } from 'chai'
import { forgetSkipped, hasTool, REQUIRE_TOOLS_VARIABLE, requireTool, skippedTools, skippedToolsSummary } from './helpers/external-tools.js'

// A program no machine has, so the missing-tool paths run everywhere.
const MISSING = 'smtpwire-no-such-program-4f1c'

describe('external programs a spec needs', function () {
  let saved: string | undefined
  beforeEach(() => {
    saved = process.env[REQUIRE_TOOLS_VARIABLE]
  })
  afterEach(() => {
    if (saved === undefined) delete process.env[REQUIRE_TOOLS_VARIABLE]
    else process.env[REQUIRE_TOOLS_VARIABLE] = saved
  })

  it('finds a program on the PATH, and not a missing one', () => {
    expect(hasTool('sh')).to.equal(true)
    expect(hasTool(MISSING)).to.equal(false)
  })

  it(`fails the spec with the install line when ${REQUIRE_TOOLS_VARIABLE}=1`, function (this: Mocha.Context) {
    process.env[REQUIRE_TOOLS_VARIABLE] = '1'
    expect(() => requireTool(this, MISSING, 'apt-get install no-such-package')).to.throw(
      `${MISSING} is not installed and ${REQUIRE_TOOLS_VARIABLE}=1: install it with: apt-get install no-such-package`,
    )
  })

  it('makes the spec pending otherwise, and records it for the summary', function (this: Mocha.Context) {
    delete process.env[REQUIRE_TOOLS_VARIABLE]
    let skipped = false
    const context = { currentTest: this.test, test: this.test, skip: () => { skipped = true } } as unknown as Mocha.Context
    requireTool(context, MISSING, 'apt-get install no-such-package')
    expect(skipped).to.equal(true)
    const entry = skippedTools().find((tool) => tool.command === MISSING)
    expect(entry?.spec).to.equal(this.test?.fullTitle())
    expect(skippedToolsSummary()).to.contain(`  ${MISSING}: 1 spec(s); install with: apt-get install no-such-package`)
    forgetSkipped(MISSING)
    expect(skippedToolsSummary()).not.to.contain(MISSING)
  })

  it('lets a spec run when its program is there', function (this: Mocha.Context) {
    process.env[REQUIRE_TOOLS_VARIABLE] = '1'
    requireTool(this, 'sh', 'apt-get install dash')
  })
})
