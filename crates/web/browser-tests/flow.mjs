// The main flows of the web interface in headless Chromium (Debian's `chromium`, driven by
// playwright-core), with axe-core (WCAG 2.2 A and AA rules) on every page and screenshots of
// each main page at desktop and phone widths.
//
// Usage: node flow.mjs BASE_URL FIXTURE_PERSON_ID SCREENSHOT_DIR
// Run by `cargo test -p careplan-web --test browser`, which starts the server.
import { chromium } from 'playwright-core'
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import assert from 'node:assert/strict'

const [base, edith, shots] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })
const require = createRequire(import.meta.url)
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const PASSWORD = 'a-long-password-for-tests'
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox']
})
const failures = []
const consoleErrors = []
let checked = 0

async function axe (page, label) {
  // Evaluated through the browser's debugging protocol, so the page's CSP does not block it.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource)
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }
  }))
  checked++
  for (const v of result.violations) {
    failures.push(`${label} (${page.url()}): ${v.id} – ${v.help}: ${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join('; ')}`)
  }
}

async function shot (page, name) {
  await page.screenshot({ path: `${shots}/${name}-desktop.png`, fullPage: true })
  const size = page.viewportSize()
  await page.setViewportSize({ width: 390, height: 844 })
  await page.screenshot({ path: `${shots}/${name}-phone.png`, fullPage: true })
  await page.setViewportSize(size)
}

/** Visits a page, checks it with axe, and optionally writes its screenshots. */
async function visit (page, path, label, screenshot) {
  const resp = await page.goto(base + path)
  assert.equal(resp.status(), 200, `${label}: ${path} answered ${resp.status()}`)
  await axe(page, label)
  if (screenshot) await shot(page, screenshot)
}

async function signIn (context, user, { keyboard = false } = {}) {
  const page = await context.newPage()
  page.on('console', m => {
    // A form shown again with its errors is answered 422, which Chromium logs; that is expected.
    if (m.type() === 'error' && !/status of 422/.test(m.text())) consoleErrors.push(`${page.url()}: ${m.text()}`)
  })
  page.on('pageerror', e => consoleErrors.push(`${page.url()}: ${e.message}`))
  await page.goto(`${base}/sign-in`)
  if (keyboard) {
    // Keyboard alone: the skip link first, then the form.
    await page.keyboard.press('Tab')
    const skip = await page.evaluate(() => document.activeElement.textContent.trim())
    assert.equal(skip, 'Skip to main content')
    await page.keyboard.press('Enter')
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate(() => document.activeElement.id), 'username')
    await page.keyboard.type(user)
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate(() => document.activeElement.id), 'password')
    await page.keyboard.type(PASSWORD)
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
  } else {
    await page.fill('#username', user)
    await page.fill('#password', PASSWORD)
    await Promise.all([page.waitForNavigation(), page.click('main button[type=submit]')])
  }
  return page
}

/** Presses Tab until the focused element matches (its text, id), failing after 300 presses. */
async function tabTo (page, matches) {
  for (let i = 0; i < 300; i++) {
    await page.keyboard.press('Tab')
    const el = await page.evaluate(() => {
      const a = document.activeElement
      return { id: a.id, text: (a.textContent || a.value || '').trim(), tag: a.tagName }
    })
    if (matches(el)) return
  }
  throw new Error(`keyboard: nothing focusable matched on ${page.url()}`)
}

/** Submits the page's main form and waits for the next page. */
async function submit (page) {
  await Promise.all([page.waitForNavigation(), page.click('main form[method=post] button[type=submit]')])
}

/** Fills a date input (three boxes). */
async function date (page, name, d, m, y) {
  await page.fill(`#${name}-day`, d)
  await page.fill(`#${name}-month`, m)
  await page.fill(`#${name}-year`, y)
}

// --- The practitioner: keyboard sign-in, a new person, their plan built through the forms ---
const nurseContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
let page = await signIn(nurseContext, 'priya', { keyboard: true })
assert.match(page.url(), /\/people$/)
await visit(page, '/sign-in?next=/people', 'sign in (signed in: redirects)')
await visit(page, '/people', 'caseload', 'caseload')

// Create a plan.
await visit(page, '/people/new', 'add a person form', 'add-person')
await submit(page)
await axe(page, 'add a person with errors')
assert.ok((await page.textContent('.nhsuk-error-summary')).includes('Enter their given name'))
await shot(page, 'add-person-errors')
await page.fill('#given_name', 'Ada')
await page.fill('#family_name', 'Lovelace')
await date(page, 'date_of_birth', '10', '12', '1950')
await page.fill('#nhs_number', '943 476 5919')
await submit(page)
const plan = new URL(page.url()).pathname
assert.match(plan, /^\/people\/[0-9a-f-]+$/)
await axe(page, 'new plan')

// A need, with the keyboard alone: Tab to the link on the plan page, Enter, type, Enter.
await tabTo(page, el => el.text === 'Add a need')
await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
assert.match(page.url(), /change\/add-need$/)
await tabTo(page, el => el.id === 'description')
await page.keyboard.type('To get out of the house every day')
await tabTo(page, el => el.id === 'importance')
await page.keyboard.type('8')
await tabTo(page, el => el.text === 'Add need')
await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
assert.ok((await page.textContent('#needs')).includes('To get out of the house every day'))
await visit(page, `${plan}/change/add-goal`, 'add a goal', 'form-add-goal')
await page.fill('#description', 'Walk to the library on my own')
await page.fill('#why_it_matters', 'Books have always been my company')
await page.fill('#priority', '9')
await page.check('#addresses')
await submit(page)
const goalId = new URL(page.url()).hash.slice(1)
assert.match(goalId, /^goal/)
await visit(page, `${plan}/change/add-goal`, 'add a second goal')
await page.fill('#description', 'Join a reading group')
await page.check('#addresses')
await submit(page)
const secondGoal = new URL(page.url()).hash.slice(1)
await visit(page, `${plan}/change/add-action?item=${goalId}`, 'add an action')
await page.fill('#description', 'Walk with the physiotherapist')
await page.selectOption('#performer_kind', 'practitioner')
await page.fill('#timing', 'Mondays')
await page.fill('#confidence', '6')
await submit(page)
const actionId = new URL(page.url()).hash.slice(1)

// Record progress.
await visit(page, `${plan}/change/record-progress?item=${goalId}`, 'record progress')
await page.check('#scale')
await page.fill('#value', '-1')
await submit(page)
await visit(page, plan, 'plan with progress', 'plan')

// Archive the goal, moving its action to the other goal.
await visit(page, `${plan}/change/archive-goal?item=${goalId}`, 'archive a goal', 'form-archive-goal')
await page.check(`input[name=move-${actionId}][value=${secondGoal}]`)
await page.fill('#reason', 'Achieved with help; walking goes on for the reading group')
await submit(page)
assert.equal(await page.locator(`#${goalId}`).count(), 0, 'the archived goal has left the current plan')
assert.ok((await page.textContent(`#${secondGoal}`)).includes('Walk with the physiotherapist'), 'the action moved')

// Agreement by a representative.
await visit(page, `${plan}/change/agreement`, 'record agreement')
await page.check('input[name=who][value=representative]')
await page.fill('#rep_name', 'Byron Lovelace')
await page.fill('#rep_relationship', 'Son')
await page.selectOption('#rep_authority', 'lasting_power_of_attorney_health_and_welfare')
await submit(page)
assert.ok((await page.textContent('#summary')).includes('Agreed by Byron Lovelace'))

// Version N and a diff.
await visit(page, `${plan}/history`, 'history', 'history')
await visit(page, `${plan}/versions/4`, 'version 4', 'version')
assert.ok((await page.textContent('.nhsuk-warning-callout')).includes('version 4'))
await visit(page, `${plan}/diff?from=4&to=8`, 'diff', 'diff')
assert.ok((await page.textContent('main')).includes('Archived'))
await visit(page, `${plan}/print`, 'print view', 'print')
await nurseContext.close()

// --- The person hides a section; the practitioner no longer sees it ---
const edithContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
page = await signIn(edithContext, 'edith')
await visit(page, `/people/${edith}/my-plan`, 'the person\'s own view', 'own-view')
await visit(page, `/people/${edith}/sharing`, 'sharing')
await visit(page, `/people/${edith}/change/sharing`, 'sharing form', 'form-sharing')
await page.selectOption('#scope', 'concerns')
await page.check('input[name=audience_kind][value=role]')
await page.selectOption('#role', 'practitioner')
await page.check('input[name=visible][value=false]')
await submit(page)
await axe(page, 'sharing saved')
await shot(page, 'sharing')

const nurse2 = await browser.newContext({ viewport: { width: 1280, height: 900 } })
page = await signIn(nurse2, 'priya')
await visit(page, `/people/${edith}`, 'plan with a withheld section', 'plan-withheld')
assert.ok((await page.textContent('#concerns')).includes('withheld from you under the person\'s consent choices'))
assert.ok(!(await page.content()).includes('Worried about falling again'))

// --- A data controller releases it with a reason; the audit trail shows it ---
const danaContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
const dana = await signIn(danaContext, 'dana')
await visit(dana, `/people/${edith}/releases?new=1`, 'release form', 'form-release')
await dana.selectOption('#scope', 'concerns')
await dana.check('input[name=audience_kind][value=role]')
await dana.selectOption('#role', 'practitioner')
await dana.fill('#reason', 'Discharge planning while Edith is in hospital and cannot consent')
await date(dana, 'expires', '1', '1', '2099')
await submit(dana)
await axe(dana, 'releases')
await shot(dana, 'releases')
await visit(page, `/people/${edith}`, 'plan seen through a release')
assert.ok((await page.content()).includes('Worried about falling again'))
await visit(dana, `/people/${edith}/audit`, 'audit trail', 'audit')
const audit = await dana.textContent('table')
assert.ok(audit.includes('Released a restricted record') && audit.includes('Used a release'))

await browser.close()
if (consoleErrors.length) {
  failures.push(...consoleErrors.map(e => `browser console error: ${e}`))
}
if (failures.length) {
  console.error(`${failures.length} problem(s) (axe-core violations, browser errors):\n` + failures.join('\n'))
  process.exit(1)
}
console.log(`browser flow passed: ${checked} pages checked with axe-core, screenshots in ${shots}`)
