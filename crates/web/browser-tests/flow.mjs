// The main flows of the web interface in headless Chromium (Debian's `chromium`, driven by
// playwright-core), with axe-core (WCAG 2.2 A and AA rules) on every page and screenshots of
// each main page at desktop and phone widths; then the whole main flow again with the keyboard
// alone (Tab and Shift+Tab to move, typing, Space and the arrow keys to choose, Enter to follow
// and submit; no clicks and nothing filled by selector), checking at every stop that focus is
// visible, and after each form error that the error summary takes focus and its links reach
// their fields (with JavaScript, and without it).
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
const started = Date.now()
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

// --- Keyboard helpers: focus moves only with Tab / Shift+Tab, values are typed, choices are
// made with Space and the arrow keys, and forms are submitted with Enter. ---

/** What is focused (evaluated in the page): its tag, type, id, name, accessible name (label or text) and state. */
const describeFocus = () => {
  const a = document.activeElement
  const label = a.labels && a.labels.length ? a.labels[0].textContent : ''
  const own = a.tagName === 'SELECT' ? '' : (a.textContent || '')
  return {
    tag: a.tagName,
    type: a.type || '',
    id: a.id,
    name: a.name || '',
    text: (label || own || a.getAttribute('aria-label') || '').replace(/\s+/g, ' ').trim(),
    value: a.value ?? '',
    checked: !!a.checked,
    selected: a.tagName === 'SELECT' ? a.options[a.selectedIndex]?.textContent.trim() : undefined,
    classes: a.className && typeof a.className === 'string' ? a.className : ''
  }
}

function focused (page) {
  return page.evaluate(describeFocus)
}

/**
 * Fails unless the focused element shows a visible focus indicator (WCAG 2.4.7) and is in the
 * viewport (2.4.11): a visible outline or a box-shadow, and its outline, box-shadow or background
 * different from how it looks without focus (a button's resting shadow is not a focus style).
 * Radios and checkboxes show focus on their label's `::before` box.
 */
const focusLook = () => {
  const a = document.activeElement
  if (!a || a === document.body) return { ok: false, why: 'nothing is focused', what: '' }
  const choice = a.matches('input[type=radio], input[type=checkbox]') && a.labels?.length
  const look = () => [getComputedStyle(a), ...(choice ? [getComputedStyle(a.labels[0], '::before')] : [])]
    .map(cs => ({ outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 && !/^(transparent|rgba\(\d+, \d+, \d+, 0\))$/.test(cs.outlineColor) ? `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}` : 'none', shadow: cs.boxShadow || 'none', background: cs.backgroundColor }))
  const focusedLook = look()
  let restingLook = null
  // Compare with the element at rest; elements given focus by script (tabindex=-1, such as
  // the error summary) lose their tabindex on blur, so they are judged on the focused look.
  if (a.getAttribute('tabindex') !== '-1') {
    a.blur()
    restingLook = look()
    a.focus({ preventScroll: true })
  }
  const ok = focusedLook.some((f, i) => (f.outline !== 'none' || f.shadow !== 'none') &&
    (!restingLook || f.outline !== restingLook[i].outline || f.shadow !== restingLook[i].shadow || f.background !== restingLook[i].background))
  const box = (choice ? a.labels[0] : a).getBoundingClientRect()
  const inView = box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth && box.width > 0 && box.height > 0
  return { ok: ok && inView && document.activeElement === a, why: !ok ? 'no outline or box-shadow that differs from the element at rest' : !inView ? 'it is outside the viewport' : 'focus moved', what: a.outerHTML.slice(0, 120) }
}

async function assertFocusVisible (page, where) {
  report(page, await page.evaluate(focusLook), where)
}

function report (page, r, where) {
  if (!r.ok) failures.push(`keyboard: focus not visible (${r.why}) ${where} on ${page.url()}: ${r.what}`)
}

/**
 * Presses Tab (or Shift+Tab) until the focused element matches — a string is its accessible
 * name, exactly — failing after 200 presses. Every element passed on the way must show focus.
 */
async function tabTo (page, matches, { back = false } = {}) {
  const test = typeof matches === 'string' ? el => el.text === matches : matches
  const seen = []
  for (let i = 0; i < 200; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab')
    // One round trip: what is focused, and whether its focus is visible.
    const [el, look] = await page.evaluate(`[(${describeFocus})(), document.activeElement === document.body ? null : (${focusLook})()]`)
    // Past the last control focus leaves the page for the browser's own controls (body).
    if (look) report(page, look, `at ${el.tag} “${el.text.slice(0, 60)}”`)
    if (test(el)) return el
    seen.push(`${el.tag}${el.id ? '#' + el.id : ''} “${el.text.slice(0, 40)}”`)
  }
  throw new Error(`keyboard: nothing focusable matched ${matches} on ${page.url()}; passed ${[...new Set(seen)].join(', ')}`)
}

/** Tabs to a field by its id and types into it (after selecting what is there). */
async function typeInto (page, id, text) {
  await tabTo(page, el => el.id === id)
  await page.keyboard.press('Control+A')
  await page.keyboard.type(text)
  assert.equal((await focused(page)).value, text, `keyboard: typed into #${id}`)
}

/** Types a date into the three boxes of a date input, moving between them with Tab. */
async function typeDate (page, name, d, m, y) {
  await typeInto(page, `${name}-day`, d)
  await page.keyboard.press('Tab')
  assert.equal((await focused(page)).id, `${name}-month`)
  await page.keyboard.type(m)
  await page.keyboard.press('Tab')
  assert.equal((await focused(page)).id, `${name}-year`)
  await page.keyboard.type(y)
}

/** Tabs to a select and moves through its options with the arrow keys to the one labelled. */
async function selectByKeyboard (page, id, label) {
  await tabTo(page, el => el.id === id)
  for (const key of ['ArrowDown', 'ArrowUp']) {
    for (let i = 0; i < 30; i++) {
      const el = await focused(page)
      if (el.selected === label) return
      const before = el.selected
      await page.keyboard.press(key)
      if ((await focused(page)).selected === before) break // the end of the list
    }
  }
  throw new Error(`keyboard: no option “${label}” in #${id} on ${page.url()}`)
}

/**
 * Chooses a radio by its label: Tab into the group (which lands on its checked radio, or the
 * first), then the arrow keys, which move and check; Space checks the one landed on.
 */
async function radioByKeyboard (page, name, label) {
  let el = await tabTo(page, e => e.type === 'radio' && e.name === name)
  for (let i = 0; i < 20 && el.text !== label; i++) {
    await page.keyboard.press('ArrowDown')
    el = await focused(page)
    await assertFocusVisible(page, `at radio “${el.text}”`)
  }
  assert.equal(el.text, label, `keyboard: radio “${label}” in ${name}`)
  if (!el.checked) await page.keyboard.press('Space')
  assert.ok((await focused(page)).checked, `keyboard: radio “${label}” is checked`)
}

/** Tabs to a checkbox by its label and checks it with Space. */
async function checkByKeyboard (page, label) {
  await tabTo(page, e => e.type === 'checkbox' && e.text === label)
  await page.keyboard.press('Space')
  assert.ok((await focused(page)).checked, `keyboard: checkbox “${label}” is checked`)
}

/** Presses Enter on what is focused and waits for the page it leads to. */
async function enter (page) {
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
}

/** Tabs to a link or button by its accessible name, presses Enter, waits for the next page. */
async function follow (page, name) {
  await tabTo(page, name)
  await enter(page)
}

/**
 * After a form error: the error summary has focus (NHS pattern), shows a visible focus style,
 * and each of its links, followed with Enter, moves focus to its field (for a date, the day
 * box; for radios or checkboxes, the first of them). Ends with focus on the field of the link
 * whose text starts with `message`, which must be `field`.
 */
async function assertErrorSummaryFocused (page, message, field) {
  await page.waitForFunction(() => document.activeElement?.classList.contains('nhsuk-error-summary'), null, { timeout: 2000 })
    .catch(() => {})
  const el = await focused(page)
  assert.ok(el.classes.includes('nhsuk-error-summary'), `keyboard: the error summary has focus after an error on ${page.url()} (focus is on ${el.tag}#${el.id})`)
  await assertFocusVisible(page, 'on the error summary')
  assert.ok(el.text.includes(message), `the error summary says “${message}”: ${el.text}`)
  const links = await page.evaluate(() => [...document.querySelectorAll('.nhsuk-error-summary a')]
    .map(a => ({ text: a.textContent.replace(/\s+/g, ' ').trim(), target: a.hash.slice(1) })))
  const follow = async (link, back) => {
    await tabTo(page, e => e.tag === 'A' && e.text === link.text, { back })
    await page.keyboard.press('Enter')
    const now = await focused(page)
    assert.ok(['INPUT', 'TEXTAREA', 'SELECT'].includes(now.tag) && now.id === link.target,
      `keyboard: the error link “${link.text}” moves focus to #${link.target} on ${page.url()} (focus is on ${now.tag}#${now.id})`)
    await assertFocusVisible(page, `on #${link.target} from the error summary`)
  }
  let back = false
  for (const link of links) {
    await follow(link, back)
    back = true
  }
  const wanted = links.find(l => l.text.startsWith(message))
  assert.ok(wanted, `keyboard: an error link “${message}”`)
  assert.equal(wanted.target, field)
  if (links.length > 1) await follow(wanted, true)
}

/** Signs in with the keyboard alone, starting at the sign-in page (the one address typed). */
async function signInByKeyboard (context, user, { wrongFirst = false } = {}) {
  const page = await context.newPage()
  page.on('console', m => {
    if (m.type() === 'error' && !/status of (401|422)/.test(m.text())) consoleErrors.push(`${page.url()}: ${m.text()}`)
  })
  page.on('pageerror', e => consoleErrors.push(`${page.url()}: ${e.message}`))
  await page.goto(`${base}/sign-in`)
  // The skip link is the first stop, and it moves on to the main content.
  await page.keyboard.press('Tab')
  assert.equal((await focused(page)).text, 'Skip to main content')
  await assertFocusVisible(page, 'on the skip link')
  await page.keyboard.press('Enter')
  await tabTo(page, el => el.id === 'username')
  await page.keyboard.type(user)
  await page.keyboard.press('Tab')
  assert.equal((await focused(page)).id, 'password')
  if (wrongFirst) {
    await page.keyboard.type('not-the-password')
    await follow(page, 'Sign in')
    await assertErrorSummaryFocused(page, 'The username or password is not right', 'password')
    assert.match(await page.title(), /^Error: Sign in/, 'the page title says there is an error')
  }
  await page.keyboard.type(PASSWORD)
  await follow(page, 'Sign in')
  return page
}

/** Fails, saying where and what is there, unless the element's text includes the words. */
async function has (page, selector, words) {
  const text = await page.textContent(selector)
  assert.ok(text.includes(words), `keyboard: ${selector} on ${page.url()} should say “${words}”: ${text.replace(/\s+/g, ' ').slice(0, 300)}`)
}

/**
 * Follows a link within the page (contents, or a link between sections) with Enter: the page
 * does not change, and the next Tab goes to the first control in or after the target.
 */
async function followInPage (page, name, target) {
  const before = page.url()
  await tabTo(page, name)
  await page.keyboard.press('Enter')
  // The fragment changes within the document; Playwright learns of it by an event that can come
  // after the key press returns, so the page's own location is the one to wait on and read.
  await page.waitForFunction(t => location.hash === `#${t}`, target, { timeout: 5000 }).catch(() => {})
  const now = await page.evaluate(() => location.href)
  assert.equal(now.split('#')[0], before.split('#')[0], `keyboard: following “${name}” stays on the page`)
  assert.match(now, new RegExp(`#${target}$`), `keyboard: following “${name}” goes to #${target}`)
  await page.keyboard.press('Tab')
  const after = await page.evaluate(t => {
    const el = document.getElementById(t)
    const a = document.activeElement
    return el.contains(a) || !!(el.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING)
  }, target)
  assert.ok(after, `keyboard: after following “${name}” to #${target}, Tab goes on from there on ${page.url()}`)
  await assertFocusVisible(page, `after following “${name}”`)
}

/** Uses the skip link: the first Tab reaches it, Enter follows it, the next Tab is in <main>. */
async function skipToMain (page) {
  if (await page.evaluate(() => document.activeElement === document.body)) {
    await page.keyboard.press('Tab')
    assert.equal((await focused(page)).text, 'Skip to main content', `keyboard: the skip link comes first on ${page.url()}`)
    await assertFocusVisible(page, 'on the skip link')
  } else {
    // Something has focus already (a success banner takes it): back to the top with Shift+Tab.
    await tabTo(page, 'Skip to main content', { back: true })
  }
  await page.keyboard.press('Enter')
  await page.keyboard.press('Tab')
  assert.ok(await page.evaluate(() => !!document.activeElement.closest('main')), `keyboard: after the skip link, Tab goes into the main content on ${page.url()}`)
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

// --- The main flow again, with the keyboard alone (no clicks, nothing filled by selector) ---
const kbStart = Date.now()
const kbContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
let kb = await signInByKeyboard(kbContext, 'priya')
assert.match(kb.url(), /\/people$/)

// Create a plan: the header's "Add a person"; submitting it empty shows the error summary, which
// takes focus, and its link takes focus to the field.
await follow(kb, 'Add a person')
assert.match(kb.url(), /\/people\/new$/)
await follow(kb, 'Add person and start their plan')
await assertErrorSummaryFocused(kb, 'Enter their given name', 'given_name')
await kb.keyboard.type('Grace')
await typeInto(kb, 'family_name', 'Hopper')
await typeDate(kb, 'date_of_birth', '9', '12', '1946')
await typeInto(kb, 'nhs_number', '999 000 1111')
await follow(kb, 'Add person and start their plan')
const kbPlan = new URL(kb.url()).pathname
assert.match(kbPlan, /^\/people\/[0-9a-f-]+$/, `keyboard: a plan was created (${kb.url()})`)
// The skip link works on the plan page: the next Tab after it is inside the main content.
await skipToMain(kb)

// A need.
await follow(kb, 'Add a need')
await typeInto(kb, 'description', 'To read without straining her eyes')
await typeInto(kb, 'importance', '7')
await follow(kb, 'Add need')
await has(kb, '#needs', 'To read without straining her eyes')

// Attaching a file: its form's errors, and the file input's focus in its error state.
await follow(kb, 'Attach a file')
await follow(kb, 'Attach the file')
await assertErrorSummaryFocused(kb, 'Choose a file to attach', 'file')
await follow(kb, 'Cancel and go back')

// A goal linked to it, and a second goal.
await follow(kb, 'Add a goal or hope')
await typeInto(kb, 'description', 'Read a novel a month')
await typeInto(kb, 'why_it_matters', 'Stories keep my mind busy')
await typeInto(kb, 'priority', '8')
await checkByKeyboard(kb, 'Need: To read without straining her eyes')
await follow(kb, 'Add goal')
const kbGoal = new URL(kb.url()).hash.slice(1)
assert.match(kbGoal, /^goal/, `keyboard: a goal was added (${kb.url()})`)
await follow(kb, 'Add a goal or hope')
await typeInto(kb, 'description', 'Visit the library each week')
await checkByKeyboard(kb, 'Need: To read without straining her eyes')
await follow(kb, 'Add goal')
const kbSecond = new URL(kb.url()).hash.slice(1)
assert.match(kbSecond, /^goal/)
assert.notEqual(kbSecond, kbGoal)

// An action for the first goal, from its card.
await follow(kb, 'Add an action for Read a novel a month')
await typeInto(kb, 'description', 'Get large-print books delivered')
await selectByKeyboard(kb, 'performer_kind', 'An organisation')
await typeInto(kb, 'timing', 'Fortnightly')
await typeInto(kb, 'confidence', '7')
await follow(kb, 'Add action')
const kbAction = new URL(kb.url()).hash.slice(1)
assert.match(kbAction, /^action/, `keyboard: an action was added (${kb.url()})`)
await has(kb, `#${kbGoal}`, 'Get large-print books delivered')
// Links between sections are followable: the goal's need, and the contents list.
const kbNeed = await kb.evaluate(g => document.querySelector(`#${g} a[href^="#need"]`).hash.slice(1), kbGoal)
await followInPage(kb, 'To read without straining her eyes', kbNeed)
await followInPage(kb, 'Actions', 'actions')

// Progress: first without a value (the error summary takes focus), then on the 0 to 10 scale.
await follow(kb, 'Record progress towards Read a novel a month')
await radioByKeyboard(kb, 'scale', '0 to 10')
await follow(kb, 'Record progress')
await axe(kb, 'keyboard: record progress with errors')
await kb.screenshot({ path: `${shots}/keyboard-error-summary-desktop.png` })
await assertErrorSummaryFocused(kb, 'Enter the progress', 'value')
await kb.keyboard.type('4')
await follow(kb, 'Record progress')
await has(kb, `#${kbGoal}`, 'Progress')
// The progress table opens from the keyboard.
await tabTo(kb, 'Progress as a table')
await kb.keyboard.press('Enter')
assert.ok(await kb.evaluate(() => document.activeElement.closest('details').open), 'keyboard: Enter opens the progress table')

// Archive the first goal, moving its action to the second.
await follow(kb, 'Archive this goal (Read a novel a month)')
await radioByKeyboard(kb, `move-${kbAction}`, 'Move it to “Visit the library each week”')
await kb.screenshot({ path: `${shots}/keyboard-radio-focus-desktop.png` })
await typeInto(kb, 'reason', 'She now reads with an audiobook instead')
await follow(kb, 'Archive goal')
assert.equal(await kb.locator(`#${kbGoal}`).count(), 0, 'keyboard: the archived goal has left the plan')
await has(kb, `#${kbSecond}`, 'Get large-print books delivered')

// Agreement by a representative.
await follow(kb, 'Record agreement')
await follow(kb, 'Record agreement')
await axe(kb, 'keyboard: record agreement with errors')
await assertErrorSummaryFocused(kb, 'Select who agreed', 'who')
await radioByKeyboard(kb, 'who', 'A legal representative on their behalf')
await typeInto(kb, 'rep_name', 'Walter Hopper')
await typeInto(kb, 'rep_relationship', 'Brother')
await selectByKeyboard(kb, 'rep_authority', 'Court-appointed deputy')
await follow(kb, 'Record agreement')
await has(kb, '#summary', 'Agreed by Walter Hopper')

// History, version 4 as it was, and what has changed since.
await follow(kb, 'History of changes')
assert.match(kb.url(), /\/history$/)
await follow(kb, 'View version 4')
await has(kb, '.nhsuk-warning-callout', 'version 4')
await has(kb, '#goals', 'Read a novel a month')
await follow(kb, 'What has changed since version 4')
assert.match(kb.url(), /\/diff\?from=4&to=\d+$/)
await has(kb, 'main', 'Archived')
// And the comparison form: choose the versions with the arrow keys.
await selectByKeyboard(kb, 'from', '3')
await selectByKeyboard(kb, 'to', '4')
await follow(kb, 'Compare')
assert.match(kb.url(), /\/diff\?from=3&to=4$/)
await has(kb, 'main', 'Read a novel a month')
await kbContext.close()

// The person hides a section (problems) from practitioners.
const kbEdith = await browser.newContext({ viewport: { width: 1280, height: 900 } })
kb = await signInByKeyboard(kbEdith, 'edith')
assert.match(kb.url(), /\/my-plan$/)
await skipToMain(kb)
await follow(kb, 'Choose who can see your plan')
await follow(kb, 'Make a choice')
await selectByKeyboard(kb, 'scope', 'Problems')
await radioByKeyboard(kb, 'audience_kind', 'Everyone in a role')
await selectByKeyboard(kb, 'role', 'Practitioners')
await radioByKeyboard(kb, 'visible', 'No, keep it from them')
await follow(kb, 'Save this choice')
await has(kb, 'main', 'This is now saved in the plan')
await kbEdith.close()

// The practitioner finds Edith by searching, and no longer sees her problems.
const kbNurse = await browser.newContext({ viewport: { width: 1280, height: 900 } })
const kbPriya = await signInByKeyboard(kbNurse, 'priya')
await typeInto(kbPriya, 'q', 'Marlowe')
await follow(kbPriya, 'Search')
await follow(kbPriya, 'Edith Marlowe')
await has(kbPriya, '#problems', 'withheld from you')
assert.ok(!(await kbPriya.content()).includes('Osteoarthritis of the right knee'))

// A data controller releases it with a reason; the audit trail shows the release and its use.
const kbDana = await browser.newContext({ viewport: { width: 1280, height: 900 } })
kb = await signInByKeyboard(kbDana, 'dana', { wrongFirst: true })
await follow(kb, 'Edith Marlowe')
await follow(kb, 'Releases')
await follow(kb, 'Release part of this plan')
await follow(kb, 'Release')
await axe(kb, 'keyboard: release with errors')
await assertErrorSummaryFocused(kb, 'Enter', 'reason')
await selectByKeyboard(kb, 'scope', 'Problems')
await radioByKeyboard(kb, 'audience_kind', 'Everyone in a role')
await selectByKeyboard(kb, 'role', 'Practitioners')
await typeInto(kb, 'reason', 'Knee surgery planning while Edith is sedated')
await typeDate(kb, 'expires', '1', '1', '2099')
await follow(kb, 'Release')
await has(kb, 'main', 'The release is recorded')
// The practitioner goes back to Edith's plan (through the header's caseload link) and sees it.
await follow(kbPriya, 'My caseload')
await follow(kbPriya, 'Edith Marlowe')
assert.ok((await kbPriya.content()).includes('Osteoarthritis of the right knee'), 'keyboard: released to the practitioner')
await kbNurse.close()
await follow(kb, 'See the audit trail')
const kbAudit = await kb.textContent('table')
assert.ok(kbAudit.includes('Released a restricted record') && kbAudit.includes('Used a release'), `keyboard: the audit trail: ${kbAudit.replace(/\s+/g, ' ').slice(0, 400)}`)
assert.ok(kbAudit.includes('Knee surgery planning'), 'keyboard: the audit trail shows the reason')
await kbDana.close()
// Without JavaScript too (every page works without it): the error summary still takes focus
// (it has autofocus) and its links still move focus to their fields.
const noJs = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false })
kb = await signInByKeyboard(noJs, 'priya')
await follow(kb, 'Add a person')
await follow(kb, 'Add person and start their plan')
await assertErrorSummaryFocused(kb, 'Enter their given name', 'given_name')
await noJs.close()
const kbSeconds = ((Date.now() - kbStart) / 1000).toFixed(1)

await browser.close()
if (consoleErrors.length) {
  failures.push(...consoleErrors.map(e => `browser console error: ${e}`))
}
if (failures.length) {
  console.error(`${failures.length} problem(s) (axe-core violations, keyboard focus, browser errors):\n` + failures.join('\n'))
  process.exit(1)
}
console.log(`browser flow passed in ${((Date.now() - started) / 1000).toFixed(1)} s (the keyboard pass ${kbSeconds} s): ${checked} pages checked with axe-core, screenshots in ${shots}`)
