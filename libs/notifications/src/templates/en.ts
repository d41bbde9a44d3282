import type { Catalog, NoticeField } from './catalog.js';

/** English: the catalogue an unknown locale falls back to. */
export const en: Catalog = {
  purpose: {
    login: () => 'to sign in',
    enrollment: () => 'to set up your Enterprise ID',
    step_up: () => 'to confirm it is you before a sensitive action',
    recovery: () => 'to recover your account',
    verification: ({ channel }) => (channel === 'email' ? 'to confirm this email address' : 'to confirm this phone number'),
    transaction: ({ description }) => (description ? `to confirm: ${description}` : 'to confirm a transaction'),
  },
  minutes: (n) => (n === 1 ? '1 minute' : `${n} minutes`),
  otpSubject: (code, purpose) => `${code} is your Gatehouse code ${purpose}`,
  otpEmail: ({ greeting, code, purpose, validity }) =>
    [
      greeting,
      '',
      `Your Gatehouse one-time code ${purpose} is:`,
      '',
      `    ${code}`,
      '',
      `It is valid for ${validity} and can be used once.`,
      '',
      'Never share this code. Gatehouse will never ask you for this code by phone, and never sends links.',
      'Enter it only on the page where you asked for it, a page you opened yourself.',
      '',
      'If you did not ask for this code, you can ignore this message; someone may have typed your address by mistake.',
      'If it keeps happening, change your password and tell your support team.',
    ].join('\n'),
  otpSms: ({ code, purpose, validity }) =>
    `${code} is your Gatehouse code ${purpose}. Valid for ${validity}. Never share it: Gatehouse will never ask you for this code by phone, and never sends links.`,
  otpVoice: ({ spoken, purpose, validity, extra }) =>
    `Hello. This is Gatehouse. Your one-time code ${purpose} is: ${spoken}. Again, your code is: ${spoken}. ` +
    `It is valid for ${validity}. Do not share it with anyone. Gatehouse will never ask you for this code by phone, and never sends links. ${extra ? `${extra} ` : ''}Goodbye.`,
  emergencyContact: {
    purpose: (channel) =>
      channel === 'email'
        ? 'to confirm this email address as an emergency contact'
        : 'to confirm this phone number as an emergency contact',
    reminder:
      'Gatehouse never asks you to reply to a message or to follow a link to verify a contact: type the code yourself on the Gatehouse page where it was asked for.',
  },
  greeting: (firstName) => (firstName ? `Hello ${firstName},` : 'Hello,'),
  when: (at) => ` on ${at}`,
  notice: {
    new_device: ({ device, when }) => ({
      subject: 'New sign-in to your Gatehouse account',
      body: `Your account was just used to sign in${device ? ` on a new device (${device})` : ' on a new device'}${when}.\nIf this was you, there is nothing to do.`,
    }),
    password_changed: ({ when }) => ({
      subject: 'Your Gatehouse password was changed',
      body: `The password of your account was changed${when}.\nIf this was you, there is nothing to do.`,
    }),
    security_code_changed: ({ when }) => ({
      subject: 'Your Gatehouse security code was changed',
      body: `The security code of your account was changed${when}.\nIf this was you, there is nothing to do.`,
    }),
    recovery_blocked: ({ when }) => ({
      subject: 'Recovery of your Gatehouse account is blocked',
      body: [
        `A wrong security code was entered too many times while trying to recover your account${when}.`,
        'To protect you, self-service recovery (forgotten Enterprise ID or password) is now blocked for your account.',
        'Your password and security code were not changed, and you can still sign in as usual.',
        'To unblock recovery, contact your support team: only they can unlock it.',
      ].join('\n'),
    }),
    enterprise_id_reminder: ({ when, identifier }) => ({
      subject: 'Your Gatehouse Enterprise ID',
      body: [
        `You asked for your Enterprise ID${when}, and confirmed it with a one-time code. Your Enterprise ID is:`,
        '',
        `    ${identifier.text}`,
        ...(identifier.spelled === 'dots'
          ? ['', 'It is written with (dot) in place of each dot, so that no mail program turns it into a link. Type a dot instead.']
          : identifier.spelled === 'spaced'
            ? [
                '',
                'It is written with spaces between its characters, so that no mail program turns it into a link. Type it without spaces.',
              ]
            : []),
        '',
        'Sign in with it at the Gatehouse address you always use.',
      ].join('\n'),
    }),
    email_changed: ({ when }) => ({
      subject: 'The email address of your Gatehouse account was changed',
      body: `The email address on your account was changed${when}. Messages now go to the new address.\nIf this was you, there is nothing to do.`,
    }),
    mobile_changed: ({ when }) => ({
      subject: 'The mobile number of your Gatehouse account was changed',
      body: `The mobile number on your account was changed${when}.\nIf this was you, there is nothing to do.`,
    }),
    correction_received: () => ({
      subject: 'We received your correction request',
      body: 'Thank you: we received your request to correct the details of your account. Your support team will review it and get back to you.\nYou do not need to do anything else for now.',
    }),
    details_corrected: ({ when, fields }) => ({
      subject: 'Your support team updated your Gatehouse account',
      body: `Your support team updated the ${fields || 'details'} of your account${when}.`,
    }),
    correction_resolved: ({ fields }) => ({
      subject: 'Your correction request was handled',
      body: [
        fields
          ? `Your support team handled your request and corrected the ${fields} of your account.`
          : 'Your support team handled your request to correct the details of your account.',
        'To continue setting up your Enterprise ID, sign in again with your previous user ID and password at the Gatehouse address you always use, and check your details.',
      ].join('\n'),
    }),
    correction_rejected: () => ({
      subject: 'Your correction request was closed',
      body: [
        'Your support team reviewed your request to correct the details of your account and closed it without changing them.',
        'If you think your details are still wrong, contact your support team.',
      ].join('\n'),
    }),
    contact_changed_by_support: ({ when, fields }) => ({
      subject: 'Your support team changed the contact details of your Gatehouse account',
      body: [
        `Your support team changed the ${fields || 'contact details'} of your account${when}. You are receiving this at the previous contact.`,
        'From now on, one-time codes go to the new contact once it has been confirmed with a code; remembered devices will ask for a code at the next sign-in.',
        'If you did not ask for this, contact your support team at once.',
      ].join('\n'),
    }),
    recovery_unlocked: ({ when }) => ({
      subject: 'Recovery of your Gatehouse account is unlocked',
      body: `Your support team unlocked self-service recovery of your account${when}. You can use "Forgot Enterprise ID" and "Forgot password" again.`,
    }),
    devices_revoked: ({ when, count }) => ({
      subject: 'Remembered devices of your Gatehouse account were signed out',
      body: `Your support team removed ${count === 1 ? 'a remembered device' : `${count} remembered devices`} from your account${when}. The next sign-in there will ask for a one-time code.`,
    }),
    sessions_ended: ({ when, count }) => ({
      subject: 'You were signed out of Gatehouse',
      body:
        count === 0
          ? `Your support team signed your account out of the apps you had signed in to${when}. Sign in again to continue.`
          : `Your support team ended ${count === 1 ? 'the active session' : `${count} active sessions`} of your account${when}. Sign in again to continue.`,
    }),
    account_disabled: ({ when }) => ({
      subject: 'Your Gatehouse account was disabled',
      body: `Your support team disabled your account${when}. Until it is enabled again, you cannot sign in or recover it.`,
    }),
    account_enabled: ({ when }) => ({
      subject: 'Your Gatehouse account was enabled',
      body: `Your support team enabled your account again${when}. You can sign in as usual.`,
    }),
  },
  noticeFooter: [
    'If this was not you, sign in at the Gatehouse address you always use (typed by yourself, not from a message), change your password, and tell your support team.',
    'Gatehouse will never ask you for a code or password by phone, and never sends links.',
  ].join('\n'),
  supportFooter: [
    'If you did not expect this, contact your support team.',
    'Gatehouse will never ask you for a code or password by phone, and never sends links.',
  ].join('\n'),
  fieldList: (fields) => {
    const names: Record<NoticeField, string> = {
      first_name: 'first name',
      last_name: 'last name',
      email: 'email address',
      mobile: 'mobile number',
    };
    const words = fields.map((f) => names[f]);
    return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
  },
  mobileReplacedSms: (when) =>
    `Gatehouse: your support team replaced the mobile number of your account${when}. Codes no longer come to this number. If you did not ask for this, contact your support team.`,
};
