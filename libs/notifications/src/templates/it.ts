import type { Catalog, NoticeField } from './catalog.js';

/** Italian. The `Catalog` type makes every key required: a missing one fails the typecheck. */
export const it: Catalog = {
  purpose: {
    login: () => 'per accedere',
    enrollment: () => 'per attivare il tuo Enterprise ID',
    step_up: () => 'per confermare che sei tu prima di un’operazione delicata',
    recovery: () => 'per recuperare il tuo account',
    verification: ({ channel }) =>
      channel === 'email' ? 'per confermare questo indirizzo email' : 'per confermare questo numero di telefono',
    transaction: ({ description }) => (description ? `per confermare: ${description}` : 'per confermare un’operazione'),
  },
  minutes: (n) => (n === 1 ? '1 minuto' : `${n} minuti`),
  otpSubject: (code, purpose) => `${code} è il tuo codice Gatehouse ${purpose}`,
  otpEmail: ({ greeting, code, purpose, validity }) =>
    [
      greeting,
      '',
      `Il tuo codice monouso Gatehouse ${purpose} è:`,
      '',
      `    ${code}`,
      '',
      `È valido per ${validity} e si può usare una sola volta.`,
      '',
      'Non comunicare mai questo codice a nessuno. Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link.',
      'Inseriscilo solo nella pagina in cui l’hai richiesto, una pagina che hai aperto tu.',
      '',
      'Se non hai richiesto questo codice, puoi ignorare questo messaggio: qualcuno potrebbe aver digitato il tuo indirizzo per errore.',
      'Se succede di nuovo, cambia la password e avvisa il tuo servizio di assistenza.',
    ].join('\n'),
  otpSms: ({ code, purpose, validity }) =>
    `${code} è il tuo codice Gatehouse ${purpose}. Valido per ${validity}. Non comunicarlo a nessuno: Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link.`,
  otpVoice: ({ spoken, purpose, validity, extra }) =>
    `Buongiorno. Qui è Gatehouse. Il tuo codice monouso ${purpose} è: ${spoken}. Ripeto, il tuo codice è: ${spoken}. ` +
    `È valido per ${validity}. Non comunicarlo a nessuno. Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link. ${extra ? `${extra} ` : ''}Arrivederci.`,
  emergencyContact: {
    purpose: (channel) =>
      channel === 'email'
        ? 'per confermare questo indirizzo email come contatto di emergenza'
        : 'per confermare questo numero di telefono come contatto di emergenza',
    reminder:
      'Gatehouse non ti chiede mai di rispondere a un messaggio o di seguire un link per verificare un contatto: digita tu stesso il codice nella pagina Gatehouse in cui è stato richiesto.',
  },
  greeting: (firstName) => (firstName ? `Buongiorno ${firstName},` : 'Buongiorno,'),
  when: (at) => ` il ${at}`,
  notice: {
    new_device: ({ device, when }) => ({
      subject: 'Nuovo accesso al tuo account Gatehouse',
      body: `Il tuo account è appena stato usato per accedere${device ? ` da un nuovo dispositivo (${device})` : ' da un nuovo dispositivo'}${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    password_changed: ({ when }) => ({
      subject: 'La password Gatehouse è stata cambiata',
      body: `La password del tuo account è stata cambiata${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    security_code_changed: ({ when }) => ({
      subject: 'Il codice di sicurezza Gatehouse è stato cambiato',
      body: `Il codice di sicurezza del tuo account è stato cambiato${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    recovery_blocked: ({ when }) => ({
      subject: 'Il recupero del tuo account Gatehouse è bloccato',
      body: [
        `È stato inserito troppe volte un codice di sicurezza errato durante un tentativo di recupero del tuo account${when}.`,
        'Per proteggerti, il recupero autonomo (Enterprise ID o password dimenticati) è ora bloccato per il tuo account.',
        'La password e il codice di sicurezza non sono stati cambiati e puoi continuare ad accedere come sempre.',
        'Per sbloccare il recupero, contatta il tuo servizio di assistenza: solo loro possono sbloccarlo.',
      ].join('\n'),
    }),
    enterprise_id_reminder: ({ when, identifier }) => ({
      subject: 'Il tuo Enterprise ID Gatehouse',
      body: [
        `Hai chiesto il tuo Enterprise ID${when} e hai confermato la richiesta con un codice monouso. Il tuo Enterprise ID è:`,
        '',
        `    ${identifier.text}`,
        ...(identifier.spelled === 'dots'
          ? [
              '',
              'È scritto con (dot) al posto di ogni punto, così che nessun programma di posta lo trasformi in un link. Digita un punto al suo posto.',
            ]
          : identifier.spelled === 'spaced'
            ? [
                '',
                'È scritto con degli spazi tra i caratteri, così che nessun programma di posta lo trasformi in un link. Digitalo senza spazi.',
              ]
            : []),
        '',
        'Usalo per accedere all’indirizzo Gatehouse che usi sempre.',
      ].join('\n'),
    }),
    email_changed: ({ when }) => ({
      subject: 'L’indirizzo email del tuo account Gatehouse è stato cambiato',
      body: `L’indirizzo email del tuo account è stato cambiato${when}. I messaggi ora arrivano al nuovo indirizzo.\nSe sei stato tu, non devi fare nulla.`,
    }),
    mobile_changed: ({ when }) => ({
      subject: 'Il numero di cellulare del tuo account Gatehouse è stato cambiato',
      body: `Il numero di cellulare del tuo account è stato cambiato${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    correction_received: () => ({
      subject: 'Abbiamo ricevuto la tua richiesta di correzione',
      body: 'Grazie: abbiamo ricevuto la tua richiesta di correggere i dati del tuo account. Il tuo servizio di assistenza la esaminerà e ti risponderà.\nPer ora non devi fare altro.',
    }),
    details_corrected: ({ when, fields }) => ({
      subject: 'Il servizio di assistenza ha aggiornato il tuo account Gatehouse',
      body: `Il tuo servizio di assistenza ha aggiornato ${fields || 'i dati'} del tuo account${when}.`,
    }),
    correction_resolved: ({ fields }) => ({
      subject: 'La tua richiesta di correzione è stata gestita',
      body: [
        fields
          ? `Il tuo servizio di assistenza ha gestito la tua richiesta e ha corretto ${fields} del tuo account.`
          : 'Il tuo servizio di assistenza ha gestito la tua richiesta di correggere i dati del tuo account.',
        'Per continuare ad attivare il tuo Enterprise ID, accedi di nuovo con il tuo vecchio ID utente e la password all’indirizzo Gatehouse che usi sempre, e controlla i tuoi dati.',
      ].join('\n'),
    }),
    correction_rejected: () => ({
      subject: 'La tua richiesta di correzione è stata chiusa',
      body: [
        'Il tuo servizio di assistenza ha esaminato la tua richiesta di correggere i dati del tuo account e l’ha chiusa senza modificarli.',
        'Se pensi che i tuoi dati siano ancora sbagliati, contatta il tuo servizio di assistenza.',
      ].join('\n'),
    }),
    contact_changed_by_support: ({ when, fields }) => ({
      subject: 'Il servizio di assistenza ha cambiato i recapiti del tuo account Gatehouse',
      body: [
        `Il tuo servizio di assistenza ha cambiato ${fields || 'i recapiti'} del tuo account${when}. Ricevi questo messaggio al recapito precedente.`,
        'D’ora in poi i codici monouso arriveranno al nuovo recapito, una volta confermato con un codice; i dispositivi memorizzati chiederanno un codice al prossimo accesso.',
        'Se non l’hai chiesto tu, contatta subito il tuo servizio di assistenza.',
      ].join('\n'),
    }),
    recovery_unlocked: ({ when }) => ({
      subject: 'Il recupero del tuo account Gatehouse è sbloccato',
      body: `Il tuo servizio di assistenza ha sbloccato il recupero autonomo del tuo account${when}. Puoi di nuovo usare "Enterprise ID dimenticato" e "Password dimenticata".`,
    }),
    devices_revoked: ({ when, count }) => ({
      subject: 'I dispositivi memorizzati del tuo account Gatehouse sono stati disconnessi',
      body: `Il tuo servizio di assistenza ha rimosso ${count === 1 ? 'un dispositivo memorizzato' : `${count} dispositivi memorizzati`} dal tuo account${when}. Al prossimo accesso da lì verrà chiesto un codice monouso.`,
    }),
    sessions_ended: ({ when, count }) => ({
      subject: 'Sei stato disconnesso da Gatehouse',
      body:
        count === 0
          ? `Il tuo servizio di assistenza ha disconnesso il tuo account dalle app a cui avevi effettuato l'accesso${when}. Accedi di nuovo per continuare.`
          : `Il tuo servizio di assistenza ha chiuso ${count === 1 ? 'la sessione attiva' : `${count} sessioni attive`} del tuo account${when}. Accedi di nuovo per continuare.`,
    }),
    account_disabled: ({ when }) => ({
      subject: 'Il tuo account Gatehouse è stato disattivato',
      body: `Il tuo servizio di assistenza ha disattivato il tuo account${when}. Finché non sarà riattivato, non puoi accedere né recuperarlo.`,
    }),
    account_enabled: ({ when }) => ({
      subject: 'Il tuo account Gatehouse è stato riattivato',
      body: `Il tuo servizio di assistenza ha riattivato il tuo account${when}. Puoi accedere come sempre.`,
    }),
  },
  noticeFooter: [
    'Se non sei stato tu, accedi all’indirizzo Gatehouse che usi sempre (digitato da te, non preso da un messaggio), cambia la password e avvisa il tuo servizio di assistenza.',
    'Gatehouse non ti chiederà mai un codice o una password per telefono e non invia mai link.',
  ].join('\n'),
  supportFooter: [
    'Se non te lo aspettavi, contatta il tuo servizio di assistenza.',
    'Gatehouse non ti chiederà mai un codice o una password per telefono e non invia mai link.',
  ].join('\n'),
  fieldList: (fields) => {
    const names: Record<NoticeField, string> = {
      first_name: 'il nome',
      last_name: 'il cognome',
      email: 'l’indirizzo email',
      mobile: 'il numero di cellulare',
    };
    const words = fields.map((f) => names[f]);
    return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} e ${words.at(-1)}`;
  },
  mobileReplacedSms: (when) =>
    `Gatehouse: il tuo servizio di assistenza ha sostituito il numero di cellulare del tuo account${when}. I codici non arrivano più a questo numero. Se non l’hai chiesto tu, contatta il tuo servizio di assistenza.`,
};
