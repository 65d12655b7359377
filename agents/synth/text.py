"""Text side of the seeded synthetic campaign: posts, copy-paste variants, labelled sets.

The near-duplicate detector is only as well measured as its negatives are hard, so
distinct posts here share hashtags, mentions and boilerplate but not their wording
(originals within a language keep word Jaccard < ``MAX_ORIGINAL_JACCARD``), while copies
differ only by the edits real copy-paste campaigns make.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

from pipeline.core.hashtags import fold_text

LANGUAGE_WEIGHTS: dict[str, float] = {
    "ar": 0.55,
    "en": 0.16,
    "tr": 0.11,
    "fa": 0.04,
    "fr": 0.04,
    "de": 0.04,
    "es": 0.03,
    "ru": 0.03,
}
MAX_ORIGINAL_JACCARD = 0.6  # ~75 % of words shared at most


@dataclass(frozen=True)
class _Lang:
    bodies: tuple[str, ...]
    openers: tuple[str, ...]
    closers: tuple[str, ...]
    slogans: tuple[str, ...]
    tags: tuple[str, ...]  # spellings of the campaign tag
    extra_tags: tuple[str, ...]
    fillers: tuple[str, ...]  # words a copier adds or swaps in
    names: tuple[str, ...]
    cities: tuple[str, ...]
    prisons: tuple[str, ...]
    punct: str = "!.…"  # what a copier appends to a word


def _lines(block: str) -> tuple[str, ...]:
    """One entry per line keeps a multilingual corpus readable and diffable."""
    return tuple(line.strip() for line in block.splitlines() if line.strip())


def _pipe(joined: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in joined.split("|"))


_AR_NAMES = _pipe(
    "محمد الحمصي | أحمد درويش | خالد العلي | عمر النجار | يوسف الشامي | مازن الخطيب | "
    "باسل قباني | رزان عيسى | سميرة الحلبي | فاطمة الأحمد | نور الدين زيدان | حسان المصري | "
    "عبد الرحمن حمود | إياد الشيخ | طارق السيد | وائل حداد"
)
_LAT_NAMES = _pipe(
    "Mohammad Khalil | Ahmad Darwish | Khaled al-Ali | Omar Najjar | Yousef Shami | "
    "Mazen Khatib | Bassel Qabbani | Razan Issa | Samira Halabi | Fatima Ahmad | "
    "Hassan Masri | Iyad Sheikh | Tarek Sayed | Wael Haddad"
)
_RU_NAMES = _pipe(
    "Мухаммад Халиль | Ахмад Дарвиш | Халед аль-Али | Омар Наджар | Юсеф Шами | "
    "Мазен Хатиб | Разан Исса | Самира Халаби"
)
_AR_CITIES = ("دمشق", "حمص", "حلب", "درعا", "داريا", "دوما", "حماة", "دير الزور", "إدلب")
_LAT_CITIES = ("Damascus", "Homs", "Aleppo", "Daraa", "Darayya", "Douma", "Hama", "Idlib")
_AR_PRISONS = ("صيدنايا", "فرع فلسطين", "سجن المزة العسكري", "الفرع 215", "سجن عدرا", "تدمر")
_LAT_PRISONS = ("Saydnaya", "Branch 215", "the Palestine Branch", "Mezzeh prison", "Adra")

_LANGS: dict[str, _Lang] = {
    "ar": _Lang(
        bodies=_lines(
            """
منذ {year} لا نعرف شيئاً عن مصير أخي {name}، اعتقلوه على حاجز في {city} واختفى.
أكثر من مئة ألف معتقل ومختفٍ قسرياً في السجون، وعائلاتهم ما زالت تنتظر خبراً واحداً.
في {prison} يموت الناس تحت التعذيب بصمت، والعالم يتفرج.
أمي ما زالت تضع صحن أبي على المائدة كل مساء منذ اعتقاله في {city}.
الحرية للمعتقلين ليست شعاراً، إنها حق لكل أم تنتظر ابنها على باب الفرع.
لا سلام في سوريا من دون كشف مصير المغيبين ومحاسبة من عذّبهم.
صور قيصر أثبتت ما كنا نعرفه: القتل الممنهج داخل المعتقلات حقيقة موثقة.
ابنتي {name} كانت طالبة في جامعة {city} حين اقتادوها من قاعة الامتحان عام {year}.
نطالب الأمم المتحدة بآلية دولية مستقلة تكشف أماكن احتجاز الآلاف من المفقودين.
كل يوم صمت إضافي يعني معتقلاً آخر يفارق الحياة في زنزانة مظلمة.
خرج بعض الناجين من {prison} بذاكرة مثقلة وأجساد منهكة، وبقي رفاقهم في الداخل.
شهادات الناجين تتحدث عن زنازين جماعية ضيقة وجوع وأمراض بلا علاج.
أين {name}؟ سؤال تكرره زوجته لأطفاله الثلاثة منذ {n} يوماً.
قوائم الوفيات التي سُلّمت لدوائر النفوس لم تُجب عن سؤال واحد: أين الجثامين؟
المختفون قسرياً ليسوا أرقاماً، لكل واحد منهم اسم ووجه وعائلة تبكيه.
لن نتوقف عن رفع صورهم في الساحات حتى يعود آخر معتقل إلى بيته.
دفعنا آلاف الدولارات لسماسرة وعدونا بزيارة أخي ولم نره أبداً.
التعذيب في أقبية الأفرع الأمنية جريمة ضد الإنسانية لا تسقط بالتقادم.
يا أحرار العالم، أصواتكم قد تنقذ حياة من بقي حياً خلف القضبان.
اعتقلوا والدي من مكان عمله في {city} لأنه أسعف جرحى المظاهرات.
محاكم الإرهاب الاستثنائية أصدرت أحكاماً بالإعدام بعد جلسات لا تتجاوز دقائق.
النساء المعتقلات تعرضن لانتهاكات مروعة، وكثيرات منهن ما زلن مجهولات المصير.
أطفال وُلدوا داخل السجون ولم يروا الشمس يوماً، فمن يعيد لهم طفولتهم؟
عائلات المفقودين تجتمع اليوم في {city} لتطالب بالحقيقة والعدالة.
مرسوم العفو الأخير لم يشمل سوى عدد قليل، والآلاف ما زالوا مغيبين.
كنت معتقلاً في {prison} لمدة {n} يوماً، وما زلت أسمع صراخ رفاقي كل ليلة.
مجزرة التضامن كشفت جزءاً صغيراً فقط من حجم الجرائم المرتكبة بحق المدنيين.
المقابر الجماعية قرب العاصمة تحتاج تحقيقاً دولياً عاجلاً وحماية للأدلة.
ذاكرة المعتقلين أمانة في أعناقنا، ولن نسمح بطيّ هذا الملف.
اختطفت دورية مسلحة الطبيب {name} من عيادته ولم يظهر له أثر منذ ذلك الحين.
الإفراج عن المعتقلين شرط أساسي لأي حل سياسي حقيقي في البلاد.
لا تطبيع مع من يخفي مئات الآلاف في أقبية الموت.
كتبت {name} على جدار زنزانتها أسماء صديقاتها كي لا يُنسين.
رسالة إلى العالم: أعيدوا إلينا أحبتنا أحياء أو أخبرونا أين دفنتموهم.
فُتحت أبواب {prison} أخيراً، لكن آلاف العائلات لم تجد أبناءها بين الخارجين.
نبحث في السجلات المسرّبة عن اسم واحد: {name} من {city}.
كل معتقل خلفه أم تنتظر على العتبة وأب يحصي الأيام.
إخفاء الناس قسرياً سلاح لترهيب المجتمع بأكمله وليس الضحية وحدها.
تقرير جديد للشبكة السورية يوثق {n} حالة اختفاء قسري منذ بداية العام.
أصدقائي الذين اعتُقلوا في مظاهرات {year} لم يعودوا، ولم تصلنا حتى شهادات وفاتهم.
الجوع والبرد والضرب اليومي، هكذا وصف الناجون أيامهم في {prison}.
لا تتركوا ملف المغيبين يضيع في دهاليز السياسة والمفاوضات.
من حق كل عائلة أن تعرف الحقيقة وأن تدفن أحبّتها بكرامة.
خالتي تسافر كل شهر إلى دمشق تسأل عن ابنها في الأفرع، ولا جواب.
المحاسبة تبدأ بالاعتراف بالجريمة، والاعتراف يبدأ بكشف مصير الضحايا.
حفظنا وجوههم في الصور المسرّبة، ولن ننسى أسماءهم ما حيينا.
احتُجز {name} في زنزانة منفردة لأشهر قبل نقله إلى {prison}، ثم انقطعت أخباره.
ندعو الصحفيين إلى تسليط الضوء على قضية المفقودين وعدم الاكتفاء بالأرقام.
"""
        ),
        openers=_lines(
            """
عاجل:
تذكير:
للتذكير فقط،
شاركوا الوسم بكثافة.
حملتنا الليلة الساعة التاسعة.
صوتنا واحد:
من أجل أحبتنا المغيبين،
في اليوم الدولي لضحايا الاختفاء القسري:
نرجو النشر على أوسع نطاق.
قصة حقيقية:
"""
        ),
        closers=_lines(
            """
شاركوا الوسم.
لن ننسى ولن نسامح.
الحرية لكل المعتقلين.
انشروا حتى يصل صوتنا.
الحقيقة والعدالة.
لا تصمتوا.
أعيدوهم إلينا.
كونوا صوتهم.
العدالة لا تموت.
معاً حتى آخر معتقل.
"""
        ),
        slogans=_pipe("لن ننسى | الحرية للمعتقلين | أعيدوهم | أين هم؟ | كونوا صوتهم | 💔"),
        tags=_pipe("#أين_المعتقلين | #اين_المعتقلين | #أين_المعتقلين | #أين_المعتقلـين"),
        extra_tags=_pipe("#الحرية_للمعتقلين | #صيدنايا | #سوريا | #المغيبين_قسرياً | #لا_تنسوهم"),
        fillers=("اليوم", "جداً", "الآن", "أيضاً", "فعلاً", "والله", "دائماً"),
        names=_AR_NAMES,
        cities=_AR_CITIES,
        prisons=_AR_PRISONS,
        punct="!.…،",
    ),
    "en": _Lang(
        bodies=_lines(
            """
My brother {name} was taken at a checkpoint in {city} in {year}. We still have no word.
Over 100,000 Syrians remain forcibly disappeared. Their families deserve answers, not silence.
Torture in {prison} was systematic, documented, and ignored by the world for far too long.
Every detainee has a name, a face and a mother waiting by the door.
There can be no lasting peace in Syria without truth about the missing.
The Caesar photos proved industrial-scale killing inside regime detention centres.
Survivors describe overcrowded cells, starvation and untreated disease in {prison}.
Release lists published last week left thousands of families with only more questions.
Tell the Security Council: the fate of the disappeared is not negotiable.
{name}, a medical student from {city}, vanished after treating wounded protesters in {year}.
Mass graves near the capital must be protected so evidence is not destroyed.
Women held in Syrian prisons endured abuse the world has barely begun to acknowledge.
Children were born behind those walls and never saw daylight.
Death certificates without bodies are another cruelty inflicted on grieving relatives.
We will keep holding up their photos until every cell is empty.
Families paid bribes to middlemen for visits that never happened.
Enforced disappearance is a crime against humanity with no statute of limitations.
When the gates of {prison} opened, thousands of relatives searched its corridors in vain.
Accountability starts with the truth: where are they, and what happened to them?
Normalising relations with those responsible betrays every family still searching.
I spent {n} days in {prison}. I still hear my cellmates screaming at night.
A new independent institution for the missing is a start, but it needs access and funding.
Journalists, please look beyond the statistics and listen to the mothers.
My father was arrested at work in {city} for helping injured neighbours.
Field courts handed down death sentences after hearings lasting minutes.
Leaked registers are being combed by people hoping to find one familiar name: {name}.
Silence from world leaders costs lives inside those dungeons every single day.
Remembering those who never came home from the security branches.
Forensic teams need time, resources and protection to identify the remains.
My aunt has visited every branch in Damascus asking about her son. Nobody answers.
Detention was used to terrorise whole communities, not just the people who were taken.
Share their stories, because names matter more than numbers.
The Tadamon massacre footage revealed only a fraction of what happened.
A new report documents {n} cases of enforced disappearance since January.
"""
        ),
        openers=_lines(
            """
BREAKING:
Reminder:
Please share.
Tonight at 9pm we tweet together.
Thread:
On the International Day of the Victims of Enforced Disappearances:
Never forget:
Read this.
For the families:
"""
        ),
        closers=_lines(
            """
Share the hashtag.
We will not forget.
Freedom for all detainees.
Truth and justice now.
Don't stay silent.
Bring them home.
Be their voice.
Justice will come.
"""
        ),
        slogans=_pipe("Never forget | Free them all | Where are they? | Bring them home"),
        tags=_pipe("#WhereAreTheDetainees | #wherearethedetainees | #Where_Are_The_Detainees"),
        extra_tags=_pipe("#Syria | #FreeSyrianDetainees | #Saydnaya | #EnforcedDisappearance"),
        fillers=("really", "now", "today", "still", "truly", "please", "all"),
        names=_LAT_NAMES,
        cities=_LAT_CITIES,
        prisons=_LAT_PRISONS,
    ),
    "tr": _Lang(
        bodies=_lines(
            """
Kardeşim {name} {year} yılında {city} kontrol noktasında gözaltına alındı, hâlâ haber yok.
Suriye cezaevlerinde yüz binden fazla insan zorla kaybedildi, aileleri cevap bekliyor.
{prison} içinde işkence sistematikti ve dünya yıllarca sessiz kaldı.
Her tutuklunun bir adı, bir yüzü ve kapıda bekleyen bir annesi var.
Kayıpların akıbeti açıklanmadan Suriye'de kalıcı barış mümkün değil.
Caesar fotoğrafları gözaltı merkezlerindeki toplu ölümleri belgeledi.
Hayatta kalanlar aşırı kalabalık koğuşları, açlığı ve tedavisiz hastalıkları anlatıyor.
Cesetleri teslim edilmeyen ölüm belgeleri acılı ailelere yapılan başka bir zulümdür.
Son hücre boşalana kadar fotoğraflarını taşımaya devam edeceğiz.
Aileler hiç gerçekleşmeyen ziyaretler için aracılara rüşvet ödedi.
Zorla kaybetme insanlığa karşı suçtur ve zamanaşımına uğramaz.
Cezaevlerinin kapıları açıldığında binlerce akraba koridorlarda boşuna aradı.
Hesap sorulması gerçekle başlar: neredeler ve onlara ne oldu?
Babam {city} şehrinde yaralı komşularına yardım ettiği için işyerinde tutuklandı.
Sahra mahkemeleri birkaç dakika süren duruşmalarla idam kararları verdi.
Kadın mahkumların yaşadığı istismar hâlâ yeterince konuşulmuyor.
Duvarların ardında doğan çocuklar gün ışığını hiç görmedi.
Şam yakınlarındaki toplu mezarlar delillerin yok olmaması için korunmalı.
Dünya liderlerinin suskunluğu o zindanlarda her gün can alıyor.
{prison} cezaevinde {n} gün kaldım, geceleri hâlâ arkadaşlarımın çığlıklarını duyuyorum.
Gazeteciler rakamların ötesine bakmalı ve anneleri dinlemeli.
Sızdırılan kayıtlarda tanıdık tek bir isim arıyoruz: {name}.
Güvenlik şubelerinden hiç dönmeyenleri anıyoruz.
"""
        ),
        openers=_lines(
            """
SON DAKİKA:
Hatırlatma:
Lütfen paylaşın.
Bu akşam saat 21.00'de hep birlikte.
Unutmayın:
"""
        ),
        closers=_lines(
            """
Etiketi paylaşın.
Unutmayacağız.
Tüm tutuklulara özgürlük.
Sessiz kalmayın.
Onları eve getirin.
Adalet gecikmesin.
"""
        ),
        slogans=("Unutmayacağız", "Özgürlük", "Neredeler?", ""),
        tags=_pipe("#TutuklularNerede | #tutuklularnerede | #TUTUKLULARNEREDE | #TutuklularNEREDE"),
        extra_tags=("#Suriye", "#Sednaya", "#ZorlaKaybetme", "#İnsanHakları"),
        fillers=("bugün", "hâlâ", "artık", "gerçekten", "lütfen", "hepimiz"),
        names=_LAT_NAMES,
        cities=_LAT_CITIES,
        prisons=("Sednaya", "Palestine Şubesi", "Mezze", "Adra", "215. Şube"),
    ),
    "fa": _Lang(
        bodies=_lines(
            """
برادرم {name} در سال {year} در ایست بازرسی {city} بازداشت شد و هنوز خبری از او نداریم.
بیش از صد هزار سوری ناپدید قهری شده‌اند و خانواده‌هایشان در انتظار پاسخ‌اند.
شکنجه در {prison} سیستماتیک بود و جهان سال‌ها سکوت کرد.
هر زندانی نام و چهره و مادری دارد که پشت در منتظر است.
بدون روشن شدن سرنوشت ناپدیدشدگان، صلح پایدار در سوریه ممکن نیست.
عکس‌های قیصر کشتار سازمان‌یافته در بازداشتگاه‌ها را ثابت کرد.
بازماندگان از سلول‌های شلوغ، گرسنگی و بیماری بدون درمان می‌گویند.
گواهی فوت بدون پیکر، شکنجه‌ای دیگر برای خانواده‌های داغدار است.
تا خالی شدن آخرین سلول، عکس‌هایشان را بالا نگه می‌داریم.
ناپدیدسازی قهری جنایت علیه بشریت است و مشمول مرور زمان نمی‌شود.
"""
        ),
        openers=("فوری:", "یادآوری:", "لطفاً منتشر کنید."),
        closers=_lines(
            """
هشتگ را به اشتراک بگذارید.
فراموش نمی‌کنیم.
آزادی برای همه زندانیان.
"""
        ),
        slogans=("فراموش نمی\u200cکنیم", "آزادی", ""),
        tags=("#زندانیان_کجا_هستند", "#زندانيان_كجا_هستند", "#أين_المعتقلين"),
        extra_tags=("#سوریه", "#صیدنایا"),
        fillers=("امروز", "هنوز", "واقعاً", "لطفاً"),
        names=_AR_NAMES,
        cities=("دمشق", "حمص", "حلب", "درعا", "حماه"),
        prisons=("زندان صیدنایا", "شعبه فلسطین", "زندان مزه", "زندان عدرا"),
        punct="!.…،",
    ),
    "fr": _Lang(
        bodies=_lines(
            """
Mon frère {name} a été arrêté à un checkpoint de {city} en {year}, aucune nouvelle depuis.
Plus de cent mille Syriens ont disparu de force ; leurs familles attendent des réponses.
La torture à {prison} était systématique et le monde a détourné le regard.
Chaque détenu a un nom, un visage et une mère qui attend derrière la porte.
Pas de paix durable en Syrie sans vérité sur le sort des disparus.
Les photos de César ont prouvé l'ampleur des exécutions dans les centres de détention.
Les survivants racontent des cellules surpeuplées, la faim et des maladies jamais soignées.
Des actes de décès sans corps : une cruauté de plus infligée aux proches endeuillés.
La disparition forcée est un crime contre l'humanité, imprescriptible.
Les fosses communes près de Damas doivent être protégées pour préserver les preuves.
"""
        ),
        openers=("URGENT :", "Rappel :", "Partagez svp."),
        closers=_lines(
            """
Partagez le hashtag.
Nous n'oublierons pas.
Liberté pour tous les détenus.
"""
        ),
        slogans=("N'oublions pas", "Liberté", ""),
        tags=("#OùSontLesDétenus", "#ousontlesdetenus", "#OuSontLesDetenus"),
        extra_tags=("#Syrie", "#Saydnaya"),
        fillers=("vraiment", "encore", "aujourd'hui", "toujours"),
        names=_LAT_NAMES,
        cities=("Damas", "Homs", "Alep", "Deraa", "Hama"),
        prisons=("Saydnaya", "la branche Palestine", "la prison de Mezzeh"),
    ),
    "de": _Lang(
        bodies=_lines(
            """
Mein Bruder {name} wurde {year} an einem Checkpoint in {city} verhaftet, seitdem fehlt jede Spur.
Mehr als hunderttausend Menschen in Syrien sind verschwunden, ihre Familien warten auf Antworten.
Folter in {prison} war systematisch, und die Welt hat jahrelang weggesehen.
Jeder Gefangene hat einen Namen, ein Gesicht und eine Mutter, die vor der Tür wartet.
Ohne Wahrheit über die Vermissten gibt es keinen dauerhaften Frieden in Syrien.
Die Caesar-Fotos belegen das massenhafte Töten in den Haftanstalten des Regimes.
Überlebende berichten von überfüllten Zellen, Hunger und unbehandelten Krankheiten.
Sterbeurkunden ohne Leichnam sind eine weitere Grausamkeit gegenüber trauernden Angehörigen.
Verschwindenlassen ist ein Verbrechen gegen die Menschlichkeit und verjährt nicht.
Der Koblenzer Prozess hat gezeigt, dass Gerechtigkeit möglich ist.
"""
        ),
        openers=("EILMELDUNG:", "Erinnerung:", "Bitte teilen."),
        closers=_lines(
            """
Teilt den Hashtag.
Wir vergessen nicht.
Freiheit für alle Gefangenen.
"""
        ),
        slogans=("Nie vergessen", "Freiheit", ""),
        tags=_pipe("#WoSindDieGefangenen | #wosinddiegefangenen | #Wo_Sind_Die_Gefangenen"),
        extra_tags=("#Syrien", "#Saydnaya"),
        fillers=("wirklich", "noch", "heute", "immer"),
        names=_LAT_NAMES,
        cities=("Damaskus", "Homs", "Aleppo", "Daraa", "Hama"),
        prisons=("Saydnaya", "der Palästina-Abteilung", "dem Mezzeh-Gefängnis"),
    ),
    "es": _Lang(
        bodies=_lines(
            """
Mi hermano {name} fue detenido en un control de {city} en {year} y no sabemos nada de él.
Más de cien mil sirios siguen desaparecidos a la fuerza; sus familias exigen respuestas.
La tortura en {prison} fue sistemática y el mundo miró hacia otro lado.
Cada detenido tiene un nombre, un rostro y una madre esperando en la puerta.
No habrá paz duradera en Siria sin la verdad sobre los desaparecidos.
Las fotos de César demostraron asesinatos masivos en los centros de detención.
Los sobrevivientes describen celdas abarrotadas, hambre y enfermedades sin tratar.
Certificados de defunción sin cuerpos: otra crueldad contra las familias en duelo.
La desaparición forzada es un crimen de lesa humanidad y no prescribe.
"""
        ),
        openers=("URGENTE:", "Recordatorio:", "Compartan, por favor."),
        closers=_lines(
            """
Compartan el hashtag.
No olvidaremos.
Libertad para todos los detenidos.
"""
        ),
        slogans=("No olvidamos", "Libertad", ""),
        tags=_pipe("#DóndeEstánLosDetenidos | #dondeestanlosdetenidos | #DondeEstanLosDetenidos"),
        extra_tags=("#Siria", "#Saydnaya"),
        fillers=("realmente", "todavía", "hoy", "siempre"),
        names=_LAT_NAMES,
        cities=("Damasco", "Homs", "Alepo", "Daraa", "Hama"),
        prisons=("Saydnaya", "la rama Palestina", "la prisión de Mezzeh"),
    ),
    "ru": _Lang(
        bodies=_lines(
            """
Мой брат {name} был задержан на блокпосту в {city} в {year} году, о нём ничего не известно.
Более ста тысяч сирийцев насильственно исчезли, их семьи до сих пор ждут ответа.
Пытки в тюрьме {prison} были систематическими, а мир годами молчал.
У каждого заключённого есть имя, лицо и мать, которая ждёт у двери.
Без правды о пропавших в Сирии не будет прочного мира.
Фотографии Цезаря доказали массовые убийства в местах заключения.
Выжившие рассказывают о переполненных камерах, голоде и болезнях без лечения.
Свидетельства о смерти без тел — ещё одна жестокость по отношению к семьям.
Насильственные исчезновения — преступление против человечности, не имеющее срока давности.
"""
        ),
        openers=("СРОЧНО:", "Напоминание:", "Пожалуйста, распространите."),
        closers=_lines(
            """
Поделитесь хэштегом.
Мы не забудем.
Свободу всем заключённым.
"""
        ),
        slogans=("Не забудем", "Свобода", ""),
        tags=("#ГдеЗаключённые", "#гдезаключенные", "#Где_Заключенные"),
        extra_tags=("#Сирия", "#Сейднайя"),
        fillers=("сегодня", "всё", "ещё", "действительно"),
        names=_RU_NAMES,
        cities=("Дамаске", "Хомсе", "Алеппо", "Дераа", "Хаме"),
        prisons=("Сейднайя", "Мезза", "Адра"),
    ),
}

_MENTIONS = _pipe(
    "@UN | @UNHumanRights | @amnesty | @hrw | @SNHR | @TheSyriaCampaign | @ICRC | "
    "@UNGeneva | @SyriaCivilDef | @CaesarFamilies | @EU_Commission | @StateDept"
)
_URL_HOSTS = ("https://t.co/", "https://bit.ly/", "https://youtu.be/", "https://snhr.org/r/")
_EMOJI = ("💔", "🕊️", "😢", "✊", "🇸🇾", "⛓️", "🙏", "🖤", "😡", "‼️", "🥀")
_GENERIC_TAGS = ("#Syria", "#سوريا", "#HumanRights", "#صيدنايا", "#Saydnaya")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class _Style:
    """What sibling posts (hard negatives) share: boilerplate, tags and mentions."""

    opener: str | None
    closer: str | None
    tags: tuple[str, ...]
    tags_first: bool
    mention: str | None
    with_url: bool


def _url(rng: random.Random) -> str:
    tail = "".join(rng.choices(string.ascii_letters + string.digits, k=10))
    return rng.choice(_URL_HOSTS) + tail


def _style(rng: random.Random, lang: str) -> _Style:
    spec = _LANGS[lang]
    tags = [rng.choice(spec.tags)]
    tags += rng.sample(spec.extra_tags, k=rng.choice((0, 0, 1, 2)))
    return _Style(
        opener=rng.choice(spec.openers) if rng.random() < 0.35 else None,
        closer=rng.choice(spec.closers) if rng.random() < 0.5 else None,
        tags=tuple(tags),
        tags_first=rng.random() < 0.15,
        mention=rng.choice(_MENTIONS) if rng.random() < 0.25 else None,
        with_url=rng.random() < 0.3,
    )


def _fill(rng: random.Random, spec: _Lang, body: str) -> str:
    return body.format(
        name=rng.choice(spec.names),
        city=rng.choice(spec.cities),
        prison=rng.choice(spec.prisons),
        year=rng.randint(2011, 2019),
        n=rng.randint(40, 3000),
    )


def _bodies(rng: random.Random, lang: str, frame: str | None = None) -> tuple[list[str], list[str]]:
    """(frames, filled bodies): one or two body sentences, starting with ``frame`` if given."""
    spec = _LANGS[lang]
    k = 2 if rng.random() < 0.45 else 1
    frames = rng.sample(spec.bodies, k=k)
    if frame is not None:
        frames = [frame, *(f for f in frames if f != frame)][:k]
    return frames, [_fill(rng, spec, f) for f in frames]


def _compose(rng: random.Random, style: _Style, bodies: list[str]) -> str:
    words = [*filter(None, [style.opener, *bodies, style.closer])]
    tags = list(style.tags)
    parts = [*tags, *words] if style.tags_first else [*words, *tags]
    if style.mention:
        parts.insert(0 if rng.random() < 0.5 else len(parts), style.mention)
    if style.with_url:
        parts.append(_url(rng))
    return " ".join(parts)


def original_text(rng: random.Random, lang: str) -> str:
    """One original campaign post in ``lang`` (a key of ``LANGUAGE_WEIGHTS``)."""
    return _compose(rng, _style(rng, lang), _bodies(rng, lang)[1])


def slogan_text(rng: random.Random, lang: str) -> str:
    """A hashtag-plus-slogan post: identical across unrelated users, too short to be a copy."""
    spec = _LANGS[lang]
    parts = [rng.choice(spec.slogans), rng.choice(spec.tags)]
    if rng.random() < 0.3:
        parts.append(rng.choice(_EMOJI))
    return " ".join(p for p in parts if p)


def _guess_lang(text: str) -> str:
    folded = text.casefold()
    for lang, spec in _LANGS.items():
        if any(t.casefold() in folded for t in spec.tags):
            return lang
    if re.search("[\u0600-\u06ff]", text):
        return "ar"
    return "ru" if re.search("[\u0400-\u04ff]", text) else "en"


def _is_word(tok: str) -> bool:
    return not tok.startswith(("#", "@", "http")) and bool(_WORD.search(tok))


def _word_edit(tokens: list[str], rng: random.Random, fillers: tuple[str, ...]) -> None:
    idx = [i for i, t in enumerate(tokens) if _is_word(t)]
    if not idx:
        return
    i = rng.choice(idx)
    op = rng.choice(("add", "remove", "change", "typo"))
    if op == "add":
        tokens.insert(i, rng.choice(fillers))
    elif op == "remove" and len(idx) > 6:
        del tokens[i]
    elif op == "change" or len(tokens[i]) < 4:
        tokens[i] = rng.choice(fillers)
    else:
        j = rng.randrange(1, len(tokens[i]) - 1)
        tokens[i] = tokens[i][:j] + tokens[i][j + 1 :]


def copy_variant(text: str, rng: random.Random) -> str:
    """A copy-paste copy of ``text`` with the small edits campaign copiers make.

    Always 1-3 cosmetic edits (mentions, emoji, punctuation, hashtags, URL, whitespace,
    RT prefix); with probability 0.3 also one word added, removed or changed.
    """
    spec = _LANGS[_guess_lang(text)]
    tokens = text.split()
    ops = rng.sample(range(10), k=rng.randint(1, 3))
    whitespace = 9 in ops
    for op in ops:
        tags = [i for i, t in enumerate(tokens) if t.startswith("#")]
        if op == 0:
            tokens.insert(0 if rng.random() < 0.5 else len(tokens), rng.choice(_MENTIONS))
        elif op == 1:
            mentions = [i for i, t in enumerate(tokens) if t.startswith("@")]
            if mentions:
                del tokens[rng.choice(mentions)]
            else:
                tokens.append(rng.choice(_MENTIONS))
        elif op == 2:
            emoji = "".join(rng.choices(_EMOJI, k=rng.randint(1, 3)))
            i = rng.randrange(len(tokens) + 1)
            tokens.insert(i, emoji)
        elif op == 3 and tokens:
            words = [i for i, t in enumerate(tokens) if _is_word(t)]
            i = rng.choice(words) if words else len(tokens) - 1
            tok = tokens[i]
            tokens[i] = (
                tok.rstrip(".,،!?؟:;") if tok[-1] in ".,،!?؟:;" else tok + rng.choice(spec.punct)
            )
        elif op == 4 and len(tags) > 1:
            shuffled = [tokens[i] for i in tags]
            rng.shuffle(shuffled)
            for i, tag in zip(tags, shuffled, strict=True):
                tokens[i] = tag
        elif op == 5 or (op == 4 and len(tags) <= 1):
            tag = rng.choice(spec.tags + spec.extra_tags + _GENERIC_TAGS)
            tokens.insert(0 if rng.random() < 0.3 else len(tokens), tag)
        elif op == 6 and len(tags) > 1:
            del tokens[rng.choice(tags)]
        elif op == 7:
            urls = [i for i, t in enumerate(tokens) if t.startswith("http")]
            if urls:
                tokens[rng.choice(urls)] = _url(rng)
            else:
                tokens.append(_url(rng))
        elif op == 8:
            tokens.insert(0, f"RT {rng.choice(_MENTIONS)}:")
    if rng.random() < 0.3:
        _word_edit(tokens, rng, spec.fillers)
    seps = (" ", " ", " ", "  ", "\n") if whitespace or rng.random() < 0.2 else (" ",)
    copied = "".join(t + rng.choice(seps) for t in tokens).strip()
    return copied if copied != text else f"{copied} {rng.choice(_EMOJI)}"


def _body_words(style: _Style, bodies: list[str]) -> frozenset[str]:
    text = " ".join(filter(None, [style.opener, *bodies, style.closer]))
    return frozenset(_WORD.findall(fold_text(text)))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _pick_lang(rng: random.Random) -> str:
    return rng.choices(list(LANGUAGE_WEIGHTS), weights=list(LANGUAGE_WEIGHTS.values()))[0]


_Fresh = tuple[list[str], list[str], frozenset[str]]


def _fresh_bodies(
    rng: random.Random,
    lang: str,
    style: _Style,
    seen: dict[str, list[frozenset[str]]],
    frame: str | None = None,
) -> _Fresh | None:
    """Bodies whose wording differs enough from every earlier original in ``lang``."""
    for attempt in range(200):
        frames, bodies = _bodies(rng, lang, frame if attempt < 100 else None)
        words = _body_words(style, bodies)
        if all(_jaccard(words, w) < MAX_ORIGINAL_JACCARD for w in seen.get(lang, ())):
            return frames, bodies, words
    return None


def labelled_copies(seed: int, n_templates: int, copies: int) -> list[tuple[str, int]]:
    """(text, template id) in arrival order, for near-duplicate precision/recall.

    About a third of templates are singletons (5 % of all templates are bare slogans that
    unrelated users post identically); the rest get 1..``copies`` copy variants, some
    copied from an earlier copy. One template in three is a sibling of the previous one -
    a hard negative: same language, boilerplate, hashtags and mention, and often the same
    sentence frame about a different person, place or year.
    """
    rng = random.Random(seed)
    seen: dict[str, list[frozenset[str]]] = {}
    timed: list[tuple[float, str, int]] = []
    lang, style, frames = "ar", _style(rng, "ar"), [""]
    for tid in range(n_templates):
        t0 = rng.uniform(0.0, 3600.0)
        if rng.random() < 0.05:
            timed.append((t0, slogan_text(rng, _pick_lang(rng)), tid))
            continue
        frame = None
        if tid == 0 or rng.random() >= 1 / 3:
            lang = _pick_lang(rng)
            style = _style(rng, lang)
        elif "{" in frames[0] and rng.random() < 0.7:
            frame = frames[0]
        fresh = _fresh_bodies(rng, lang, style, seen, frame)
        if fresh is None:  # this language's bodies are used up: post in another one
            for lang in sorted(LANGUAGE_WEIGHTS, key=LANGUAGE_WEIGHTS.__getitem__, reverse=True):
                style = _style(rng, lang)
                if (fresh := _fresh_bodies(rng, lang, style, seen)) is not None:
                    break
            else:
                raise ValueError(f"corpus too small for {n_templates} distinct templates")
        frames, bodies, words = fresh
        seen.setdefault(lang, []).append(words)
        text = _compose(rng, style, bodies)
        timed.append((t0, text, tid))
        if rng.random() < 1 / 3:
            continue
        versions = [text]
        t = t0
        for _ in range(rng.randint(1, copies) if copies > 0 else 0):
            t += rng.expovariate(1 / 120.0)
            source = rng.choice(versions) if rng.random() < 0.3 else text
            versions.append(copy_variant(source, rng))
            timed.append((t, versions[-1], tid))
    timed.sort(key=lambda item: item[0])
    return [(text, tid) for _, text, tid in timed]
