/** The scoring service's logic: loading champions, checking rows, scoring, the prediction log. */
export { ENDPOINTS_CHANNEL, notifyEndpointChanged } from './notify';
