// Progressive enhancement only: every page works without this file.
import { initAll } from './nhsuk.js'

document.body.classList.add('js-enabled')
if ('noModule' in HTMLScriptElement.prototype) {
  document.body.classList.add('nhsuk-frontend-supported')
}
initAll()
