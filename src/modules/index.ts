/** The business capability modules, each owning its entities, services, controllers and jobs. */
export const BUSINESS_MODULES = [];
