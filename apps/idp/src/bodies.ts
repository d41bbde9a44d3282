import { z } from 'zod';
import { given, text } from './auth/body.js';

/*
 * One schema per request body of the IdP (JSON and forms), read with `@Input(Schema)`. Fields a
 * flow's service checks itself are `given` (passed on as they came: the service answers a bad
 * value as the flow does, with its own message and status); fields the controller reads are
 * `text` (not a string: as if missing). Only a few choices are refused here, as 400 invalid_request.
 */

// --- sign-in and enrollment: JSON API (/api/v1/signin, /api/v1/enrollment) ---

/** `POST /api/v1/signin`: a flow's start (`return_to`), or the one-request sign-in with `user_id` and `password`. */
export const SignInStartBody = z.object({ user_id: given, password: given, return_to: given, device_token: text });
export type SignInStartBody = z.output<typeof SignInStartBody>;
export const SignInCredentialsBody = z.object({ user_id: given, password: given, device_token: text });
export type SignInCredentialsBody = z.output<typeof SignInCredentialsBody>;
/** A code's channel to send by (sign-in, recovery, step-up, a contact change). */
export const ChannelBody = z.object({ channel: given });
export type ChannelBody = z.output<typeof ChannelBody>;
export const SignInCodeBody = z.object({
  code: given,
  remember: z
    .unknown()
    .optional()
    .transform((v) => v === true),
});
export type SignInCodeBody = z.output<typeof SignInCodeBody>;
/** The fields of enrollment's credentials step (page and API). */
const credentialFields = {
  enterprise_id: given,
  password: given,
  confirm_password: given,
  security_code: given,
  confirm_security_code: given,
  mobile: given,
};
/** Enrollment's credentials step in the service's words. */
const credentials = (b: { [K in keyof typeof credentialFields]?: unknown } & { locale?: unknown }) => ({
  enterpriseId: b.enterprise_id,
  password: b.password,
  confirmPassword: b.confirm_password,
  securityCode: b.security_code,
  confirmSecurityCode: b.confirm_security_code,
  mobile: b.mobile,
  locale: b.locale,
});
/** `POST /api/v1/enrollment/:id/:action`: each action reads its own fields (`credentials`: the credentials step's). */
export const EnrollmentStepBody = z
  .object({ ...credentialFields, locale: given, message: given, code: given, channel: given })
  .transform((b) => ({ message: b.message, code: b.code, channel: b.channel, credentials: credentials(b) }));
export type EnrollmentStepBody = z.output<typeof EnrollmentStepBody>;

// --- sign-in and enrollment: pages ---

export const SignInCredentialsForm = z.object({ csrf: text, user_id: given, password: given });
export type SignInCredentialsForm = z.output<typeof SignInCredentialsForm>;
export const SignInCodeForm = z.object({ action: text, channel: given, code: given, remember: given });
export type SignInCodeForm = z.output<typeof SignInCodeForm>;
export const EnrollConfirmForm = z.object({ action: text, message: given });
export type EnrollConfirmForm = z.output<typeof EnrollConfirmForm>;
/** The credentials step's form (no `locale`: the page's language is not the messages'), in the service's words. */
export const EnrollCredentialsForm = z.object(credentialFields).transform(credentials);
export type EnrollCredentialsForm = z.output<typeof EnrollCredentialsForm>;
export const EnrollCodeForm = z.object({ action: text, code: given });
export type EnrollCodeForm = z.output<typeof EnrollCodeForm>;
export const EnrollMobileForm = z.object({ action: text, channel: given, code: given });
export type EnrollMobileForm = z.output<typeof EnrollMobileForm>;

// --- recovery ---

export const RecoveryStartBody = z.object({
  goal: z.enum(['enterprise_id', 'password'], { error: 'goal must be "enterprise_id" or "password".' }),
});
export type RecoveryStartBody = z.output<typeof RecoveryStartBody>;
/** The identify step: who (`email` or `enterprise_id`) and the security code, in the service's words. */
const identifyFields = { email: given, enterprise_id: given, security_code: given };
const details = (b: { [K in keyof typeof identifyFields]?: unknown }) => ({
  email: b.email,
  enterpriseId: b.enterprise_id,
  securityCode: b.security_code,
});
/** `POST /api/v1/recovery/:id/:action`: each action reads its own fields (`details`: identify's). */
export const RecoveryStepBody = z
  .object({ ...identifyFields, channel: given, code: given, password: given, confirm_password: given })
  .transform((b) => ({ ...b, details: details(b) }));
export type RecoveryStepBody = z.output<typeof RecoveryStepBody>;
export const RecoveryIdentifyForm = z.object({ csrf: text, ...identifyFields }).transform((b) => ({ csrf: b.csrf, details: details(b) }));
export type RecoveryIdentifyForm = z.output<typeof RecoveryIdentifyForm>;
export const RecoveryCodeForm = z.object({ action: text, channel: given, code: given });
export type RecoveryCodeForm = z.output<typeof RecoveryCodeForm>;
export const NewPasswordForm = z.object({ password: given, confirm_password: given });
export type NewPasswordForm = z.output<typeof NewPasswordForm>;

// --- the signed-in account ---

export const ForgetDeviceForm = z.object({ device_id: text });
export type ForgetDeviceForm = z.output<typeof ForgetDeviceForm>;
export const LanguageForm = z.object({ locale: given });
export type LanguageForm = z.output<typeof LanguageForm>;
export const SessionSignOutForm = z.object({ session_id: text });
export type SessionSignOutForm = z.output<typeof SessionSignOutForm>;
export const StepUpForm = z.object({ flow: given, channel: given, return_to: given, action: text, code: given });
export type StepUpForm = z.output<typeof StepUpForm>;
/** A page's step on a contact change (`flow` is `<id>.<token>`). */
export const ContactCodeForm = z.object({ flow: given, channel: given, action: text, code: given });
export type ContactCodeForm = z.output<typeof ContactCodeForm>;
/** A password change (page and API), in the service's words. */
export const PasswordChangeBody = z
  .object({ current_password: given, new_password: given, confirm_password: given })
  .transform((b) => ({ currentPassword: b.current_password, newPassword: b.new_password, confirmPassword: b.confirm_password }));
export type PasswordChangeBody = z.output<typeof PasswordChangeBody>;
/** A security code change (page and API), in the service's words. */
export const SecurityCodeChangeBody = z
  .object({ current_password: given, security_code: given, confirm_security_code: given })
  .transform((b) => ({ currentPassword: b.current_password, securityCode: b.security_code, confirmSecurityCode: b.confirm_security_code }));
export type SecurityCodeChangeBody = z.output<typeof SecurityCodeChangeBody>;
export const MobileChangeBody = z.object({ action: text, mobile: given, channel: given });
export type MobileChangeBody = z.output<typeof MobileChangeBody>;
export const EmailChangeBody = z.object({ email: given });
export type EmailChangeBody = z.output<typeof EmailChangeBody>;
/** A step of a flow by the JSON API: a resend (`channel`) or a code (`code`). */
export const FlowCodeBody = z.object({ channel: given, code: given });
export type FlowCodeBody = z.output<typeof FlowCodeBody>;

// --- emergency contacts ---

export const EmergencyEmailForm = z.object({ action: text, email: given, return_to: given });
export type EmergencyEmailForm = z.output<typeof EmergencyEmailForm>;
export const EmergencyPhoneForm = z.object({ action: text, phone: given, channel: given, return_to: given });
export type EmergencyPhoneForm = z.output<typeof EmergencyPhoneForm>;
export const EmergencyCodeForm = z.object({
  kind: z.enum(['email', 'phone']).optional().catch(undefined),
  action: text,
  channel: given,
  code: given,
  return_to: given,
});
export type EmergencyCodeForm = z.output<typeof EmergencyCodeForm>;
export const RemindLaterForm = z.object({ return_to: given });
export type RemindLaterForm = z.output<typeof RemindLaterForm>;
export const EmergencyContactBody = z.object({ email: given, phone: given, channel: given });
export type EmergencyContactBody = z.output<typeof EmergencyContactBody>;
const contact = z.enum(['email', 'phone'], { error: 'The contact must be "email" or "phone".' });
export const EmergencyCodeBody = z.object({ contact, code: given });
export type EmergencyCodeBody = z.output<typeof EmergencyCodeBody>;
export const EmergencyResendBody = z.object({ contact, channel: given });
export type EmergencyResendBody = z.output<typeof EmergencyResendBody>;
