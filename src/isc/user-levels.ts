/**
 * User levels (capabilities) an ISC auth user can have, from the AuthUser schema's capability
 * enum in SailPoint's v2025 API specification.
 */
export const userLevels: readonly string[] = [
  'CERT_ADMIN',
  'CLOUD_GOV_ADMIN',
  'CLOUD_GOV_USER',
  'HELPDESK',
  'ORG_ADMIN',
  'REPORT_ADMIN',
  'ROLE_ADMIN',
  'ROLE_SUBADMIN',
  'SAAS_MANAGEMENT_ADMIN',
  'SAAS_MANAGEMENT_READER',
  'SOURCE_ADMIN',
  'SOURCE_SUBADMIN',
  'das:ui-administrator',
  'das:ui-compliance_manager',
  'das:ui-auditor',
  'das:ui-data-scope',
  'sp:aic-dashboard-read',
  'sp:aic-dashboard-write',
  'sp:ui-config-hub-admin',
  'sp:ui-config-hub-backup-admin',
  'sp:ui-config-hub-read',
];

/** Levels a ServiceAccount may request when its Tenant sets no policy: all but ORG_ADMIN. */
export const defaultAllowedUserLevels: readonly string[] = userLevels.filter(
  (level) => level !== 'ORG_ADMIN',
);
